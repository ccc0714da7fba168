"""Is KVM usable here? /dev/kvm can exist while guests hang on it, so only a real run tells.

Seen on nested hosts: real-mode code and SeaBIOS run under KVM, yet a Linux kernel stops
right after "Probing EDD". So the probe boots the project's guest kernel (built by
scripts/build-guest) and requires its "Linux version" banner, printed once the kernel runs
decompressed in long mode. Without a kernel to try, KVM is not trusted. Cached per process.
"""

from __future__ import annotations

import os

from ..cache import cache_dir
from ..errors import DriverkitError

BANNER = b"Linux version"
_verdict: dict[str, tuple[bool, str]] = {}


async def probe_kvm(timeout: float = 5.0) -> tuple[bool, str]:
    """(usable, reason). Never raises for an unusable KVM; says why instead."""
    if "x86_64" not in _verdict:
        _verdict["x86_64"] = await _probe(timeout)
    return _verdict["x86_64"]


async def _probe(timeout: float, accel: str = "kvm") -> tuple[bool, str]:
    from .machine import Machine
    from .spec import MachineSpec

    if accel == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is missing or not accessible"
    kernel = cache_dir() / "guest" / "vmlinuz"
    if not kernel.is_file():
        return False, f"no guest kernel at {kernel} to prove KVM with (run scripts/build-guest)"
    spec = MachineSpec(accel=accel, firmware="seabios", memory="128M", shared_ram=False,
                       kernel=str(kernel), startup_timeout=timeout,
                       append="console=ttyS0 earlyprintk=serial,ttyS0 panic=-1")
    try:
        async with Machine(spec) as m:
            await m.console.expect(BANNER, timeout=timeout)
    except DriverkitError as exc:
        return False, f"a Linux kernel did not run under {accel}: {str(exc).splitlines()[0]}"
    return True, f"a Linux kernel ran under {accel} (its banner reached the serial port)"
