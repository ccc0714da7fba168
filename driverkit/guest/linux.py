"""MachineSpec for the Debian cloud-kernel guest with the dkprobe initramfs."""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

from ..errors import ConfigError
from ..machine.spec import MachineSpec
from ..mem import parse_probes
from ..mem.arm64.plan import check_arm64_cmdline
from .artifacts import GuestArtifacts

#: no_timer_check: a loaded host can make TCG miss the IO-APIC timer test, which panics the
#: 6.1 kernel ("IO-APIC + timer doesn't work!"); the check says nothing about memory
BASE_APPEND = "console=ttyS0 panic=-1 no_timer_check"
#: the arm64 guest's console is virt's PL011 (ttyAMA0)
BASE_APPEND_ARM64 = "console=ttyAMA0 panic=-1"
MAX_PROBE_RANGES = 16  # DK_MAX_RANGES in guest/linux/dkprobe/dkprobe.c
COMMAND_LINE_SIZE = 2048  # x86 and arm64 COMMAND_LINE_SIZE, including the terminating NUL
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
    machine: str | None = None,
    memory: int | str = "256M",
    probes: Iterable[Probe] = (),
    *,
    probe_params: Mapping[str, str | int] | None = None,
    artifacts: GuestArtifacts | None = None,
    arch: str = "x86_64",
    dtb: str | os.PathLike[str] | None = None,
    **kw: Any,
) -> MachineSpec:
    """A machine booting the built guest; the probe runs at boot.

    x86_64: SeaBIOS on `machine` "pc" (default) or "q35". aarch64: QEMU `virt` with a
    cortex-a57, QEMU entering the kernel itself (firmware "direct"); `dtb` replaces the
    device tree QEMU generates (e.g. one with a /reserved-memory node, driverkit.mem.dt).
    `cmdline` is appended to the kernel command line (mem=, memmap=, crashkernel=, cma=...).
    `probes` are (start, size) pairs or "START:SIZE" strings for dkprobe's range tests;
    `probe_params` adds other dkprobe parameters (tests, pattern, verify, seed).
    Other keywords go to MachineSpec (devices, extra_args, accel, ...).
    Raises ArtifactMissing if scripts/build-guest has not been run.
    """
    if arch not in ("x86_64", "aarch64"):
        raise ConfigError(f"the Linux guest is built for x86_64 and aarch64, not {arch!r}")
    machine = machine or ("pc" if arch == "x86_64" else "virt")
    if "\n" in cmdline:
        raise ConfigError("the kernel command line must be one line")
    if arch == "aarch64":
        check_arm64_cmdline(cmdline)
    elif dtb is not None:
        raise ConfigError("dtb: a device tree is for the aarch64 guest; x86 boots with e820")
    art = artifacts or GuestArtifacts.locate(arch=arch)
    if art.arch != arch:
        raise ConfigError(f"artifacts are the {art.arch} guest's, not {arch}'s")
    probe_words = [probe_ranges_param(probes)]
    for name, value in (probe_params or {}).items():
        if not name.isidentifier() or " " in str(value) or not str(value):
            raise ConfigError(f"dkprobe parameter {name}={value!r} must be a name and a "
                              f"non-empty value without spaces")
        probe_words.append(f"dkprobe.{name}={value}")
    if not art.has_probe and any(probe_words):
        raise ConfigError(f"probes asked for, but this {arch} guest has no dkprobe: "
                          f"{art.probe_missing_reason}")
    base = BASE_APPEND if arch == "x86_64" else BASE_APPEND_ARM64
    if not art.has_probe:
        base += " dk.probe=0"
    words = [base, cmdline.strip(), *probe_words]
    append = " ".join(w for w in words if w)
    if len(append) >= COMMAND_LINE_SIZE:
        raise ConfigError(f"kernel command line is {len(append)} bytes; the "
                          f"{'x86' if arch == 'x86_64' else 'arm64'} limit is "
                          f"{COMMAND_LINE_SIZE - 1}")
    if arch == "x86_64":
        return MachineSpec(machine=machine, memory=memory, firmware="seabios",
                           kernel=str(art.kernel), initrd=str(art.initrd), append=append, **kw)
    extra = tuple(kw.pop("extra_args", ()))
    if dtb is not None:
        if not os.path.isfile(dtb):
            raise ConfigError(f"dtb {os.fspath(dtb)!r} does not exist")
        extra = ("-dtb", os.fspath(dtb), *extra)
    return MachineSpec(arch="aarch64", machine=machine, memory=memory, firmware="direct",
                       kernel=str(art.kernel), initrd=str(art.initrd), append=append,
                       extra_args=extra, **kw)
