"""The /proc/iomem entries that do not come from e820: PCI windows, ROMs, APICs, HPET.

Measured from real QEMU 7.2 + SeaBIOS 1.16.2 guests (Debian 6.1.0-56-cloud-amd64, TCG,
default devices, and -nodefaults) with `cat /proc/iomem`. Device BARs (`0000:00:02.0` ...)
depend on the devices on the command line and are not predicted. The ROM entries are those
of QEMU's default VGA + NIC option ROMs, or (`defaults=False`, -nodefaults -kernel) the
linuxboot ROM alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from .firmware import normalize_machine, ram_split
from .kernel.versions import VersionRules
from .resource import IORESOURCE_BUSY, IORESOURCE_MEM

GiB = 1 << 30

#: 64-bit PCI window size QEMU 7.2 advertises in _CRS: i440FX 2 GiB, q35 32 GiB.
PCI_HOLE64 = {"pc": 2 * GiB, "q35": 32 * GiB}


@dataclass(frozen=True)
class PlatformRes:
    """A node, when it is added (phase) and how (insert_resource or request_mem_region).

    Phases follow boot order: "pre" = setup_arch before e820__reserve_resources (ROMs),
    "mid" = between that and e820__reserve_resources_late (APICs, PCI root windows, HPET),
    "final" = after (pnp system devices, then PCI MMCONFIG, which wraps "Reserved").
    Of two nodes with the same range, the one inserted later becomes the parent.
    """

    start: int
    end: int
    name: str
    busy: bool
    phase: str
    method: str = "insert"

    @property
    def flags(self) -> int:
        return IORESOURCE_MEM | (IORESOURCE_BUSY if self.busy else 0)


def platform_resources(machine: str, memory: int, *, defaults: bool = True,
                       rules: VersionRules | None = None) -> list[PlatformRes]:
    """Non-e820 iomem nodes in the order the kernel adds them (names and presence per the
    kernel version's rules; default: the bundled kernel's)."""
    if rules is None:
        from .kernel import bundled_kernel

        rules = bundled_kernel().rules
    m = normalize_machine(machine)
    below, above = ram_split(m, memory)
    out: list[PlatformRes] = []
    if defaults:
        out += [
            PlatformRes(0xC0000, 0xC9BFF, "Video ROM", True, "pre"),
            PlatformRes(0xCA000, 0xCADFF, "Adapter ROM", True, "pre"),
            PlatformRes(0xCB000, 0xCB5FF, "Adapter ROM", True, "pre"),
        ]
    else:  # -nodefaults -kernel: only the linuxboot option ROM, which lands at 0xc0000
        out.append(PlatformRes(0xC0000, 0xC05FF, "Video ROM", True, "pre"))
    out.append(PlatformRes(0xF0000, 0xFFFFF, "System ROM", True, "pre"))
    out += [
        PlatformRes(0xFEC00000, 0xFEC003FF, "IOAPIC 0", True, "mid"),
        PlatformRes(0xA0000, 0xBFFFF, "PCI Bus 0000:00", False, "mid"),
    ]
    if rules.lapic_resource:
        out.insert(-1, PlatformRes(0xFEE00000, 0xFEE00FFF, "Local APIC", True, "mid"))
    if m == "pc":
        out.append(PlatformRes(below, 0xFEBFFFFF, "PCI Bus 0000:00", False, "mid"))
    else:
        out.append(PlatformRes(below, 0xAFFFFFFF, "PCI Bus 0000:00", False, "mid"))
        out.append(PlatformRes(0xC0000000, 0xFEBFFFFF, "PCI Bus 0000:00", False, "mid"))
    hole64 = -(-((1 << 32) + above) // GiB) * GiB
    out.append(PlatformRes(hole64, hole64 + PCI_HOLE64[m] - 1, "PCI Bus 0000:00", False, "mid"))
    out += [
        # neither is busy: a driver's request_mem_region(0xfed00000, 0x400) succeeds [verified]
        PlatformRes(0xFED00000, 0xFED003FF, "PNP0103:00", False, "mid"),
        PlatformRes(0xFED00000, 0xFED003FF, "HPET 0", False, "mid"),
    ]
    if m == "q35":
        out += [
            PlatformRes(
                0xB0000000, 0xBFFFFFFF, f"pnp 00:0{5 if defaults else 4}", True, "final", "request"
            ),
            PlatformRes(0xB0000000, 0xBFFFFFFF, f"{rules.ecam_name} 0000 [bus 00-ff]", True,
                        "final"),
        ]
    return out
