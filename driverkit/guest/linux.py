"""MachineSpec for the Debian cloud-kernel guest with the dkprobe initramfs."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..errors import ConfigError
from ..machine.spec import MachineSpec
from ..mem import parse_probes
from .artifacts import GuestArtifacts

BASE_APPEND = "console=ttyS0 panic=-1"
MAX_PROBE_RANGES = 16  # DK_MAX_RANGES in guest/linux/dkprobe/dkprobe.c
COMMAND_LINE_SIZE = 2048  # x86 boot protocol limit, including the terminating NUL
Probe = tuple[int, int] | str


def probe_ranges_param(probes: Iterable[Probe]) -> str:
    """`dkprobe.ranges=...` for these (start, size) ranges, or "" if there are none."""
    ranges = parse_probes(probes)
    if len(ranges) > MAX_PROBE_RANGES:
        raise ConfigError(f"dkprobe takes at most {MAX_PROBE_RANGES} ranges, got {len(ranges)}")
    if not ranges:
        return ""
    return "dkprobe.ranges=" + ",".join(f"{s:#x}:{n:#x}" for s, n in ranges)


def linux_guest_spec(
    cmdline: str = "",
    machine: str = "pc",
    memory: int | str = "256M",
    probes: Iterable[Probe] = (),
    *,
    probe_params: Mapping[str, str | int] | None = None,
    artifacts: GuestArtifacts | None = None,
    **kw: Any,
) -> MachineSpec:
    """A SeaBIOS x86_64 machine booting the built guest; the probe runs at boot.

    `cmdline` is appended to the kernel command line (mem=, memmap=, crashkernel=, ...).
    `probes` are (start, size) pairs or "START:SIZE" strings for dkprobe's range tests;
    `probe_params` adds other dkprobe parameters (tests, pattern, verify, seed).
    Other keywords go to MachineSpec (devices, extra_args, accel, ...).
    Raises ArtifactMissing if scripts/build-guest has not been run.
    """
    if kw.get("arch", "x86_64") != "x86_64":
        raise ConfigError(f"the Linux guest is x86_64 only, not {kw['arch']!r}")
    if "\n" in cmdline:
        raise ConfigError("the kernel command line must be one line")
    art = artifacts or GuestArtifacts.locate()
    words = [BASE_APPEND, cmdline.strip(), probe_ranges_param(probes)]
    for name, value in (probe_params or {}).items():
        if not name.isidentifier() or " " in str(value) or not str(value):
            raise ConfigError(f"dkprobe parameter {name}={value!r} must be a name and a "
                              f"non-empty value without spaces")
        words.append(f"dkprobe.{name}={value}")
    append = " ".join(w for w in words if w)
    if len(append) >= COMMAND_LINE_SIZE:
        raise ConfigError(f"kernel command line is {len(append)} bytes; the x86 limit is "
                          f"{COMMAND_LINE_SIZE - 1}")
    return MachineSpec(machine=machine, memory=memory, firmware="seabios",
                       kernel=str(art.kernel), initrd=str(art.initrd), append=append, **kw)
