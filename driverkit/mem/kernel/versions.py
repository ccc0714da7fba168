"""What differs between kernel versions where the model follows the kernel, named by version.

A rule here holds for a range of upstream versions (not for one build): where the image
itself says nothing (what the boot uses of .brk and of .bss..decrypted), the figures come
from `memblock=debug` and the "Freeing unused decrypted memory" line of real boots, checked
on every build listed in docs/memory-model.md.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE = 4096


@dataclass(frozen=True)
class VersionRules:
    """The behaviour of one range of kernel versions (x86_64)."""

    name: str
    #: "x86-6.1": arch/x86/kernel/setup.c reserve_crashkernel() with its own message;
    #: "generic": kernel/crash_reserve.c reserve_crashkernel_generic() (x86 uses it from 6.7)
    crashkernel: str
    #: bytes of .bss..decrypted in use (kvmclock's boot page and wall clock, the SEV boot
    #: GHCB); the rest of that 2 MiB block is freed as "unused decrypted memory"
    decrypted_used: int
    #: bytes of .brk in use when reserve_brk() runs under QEMU + SeaBIOS: the early page-table
    #: buffer (INIT_PGT_BUF_SIZE) plus the DMI strings dmi_alloc() copied there
    brk_used: int
    #: /proc/iomem has "Local APIC" (lapic_insert_resource) [measured: 6.1 yes, 6.12 no]
    lapic_resource: bool
    #: the name of the PCI config window resource: "PCI MMCONFIG" (6.1) or "PCI ECAM" (6.12)
    ecam_name: str


_RULES = (
    # checked on 6.12; from 6.7 for the crashkernel code, unverified in between for the rest
    ((6, 7), VersionRules("6.12", "generic", 3 * PAGE, 0x11000, False, "PCI ECAM")),
    ((0, 0), VersionRules("6.1", "x86-6.1", 3 * PAGE, 0x11000, True, "PCI MMCONFIG")),
)


def rules_for(version: tuple[int, int, int]) -> VersionRules:
    """The rules of the newest range that starts at or below `version`."""
    for start, rules in _RULES:
        if version[:2] >= start:
            return rules
    return _RULES[-1][1]
