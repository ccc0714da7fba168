"""The arm64 guest: a cold boot to a shell on virt (cortex-a57, TCG, no firmware) against the
x86 guest's (pc, SeaBIOS, TCG), and the arm64 model against the x86 one (no QEMU)."""

from __future__ import annotations

import os
import time

from driverkit.guest import GuestArtifacts, linux_guest_spec
from driverkit.machine.dtb import virt_dtb
from driverkit.mem import plan
from driverkit.mem.arm64 import plan_arm64
from driverkit.mem.dt import DeviceTree

from . import Samples, figure, paired
from .guest import cold_boot


@figure("arm64 guest cold boot to a shell (virt, TCG)", unit="s",
        baseline="x86 guest cold boot to a shell (pc, SeaBIOS, TCG)", at_most=2.0)
async def arm64_cold_boot(rounds: int, scale: float) -> Samples:
    arm = linux_guest_spec(arch="aarch64")
    x86 = linux_guest_spec(machine="pc")
    out = Samples([], [])
    for _ in range(rounds):
        out.value.append(await cold_boot(arm))
        out.baseline.append(await cold_boot(x86))
    return out


@figure("arm64 memplan (DTB, Image, boot model, iomem)", unit="s",
        baseline="x86 memplan (e820, bzImage description, boot model, iomem)", at_most=100.0)
async def arm64_plan(rounds: int, scale: float) -> Samples:
    art = GuestArtifacts.locate(arch="aarch64")
    tree = DeviceTree.load(virt_dtb("256M"))
    isize = os.path.getsize(art.initrd)

    def arm() -> float:
        t0 = time.perf_counter()
        plan_arm64("256M", "crashkernel=32M", kernel=art.kernel, kernel_config=art.config,
                   dtb=tree, initrd_size=isize)
        return time.perf_counter() - t0

    def x86() -> float:
        t0 = time.perf_counter()
        plan("pc", "256M", "crashkernel=32M", defaults=False)
        return time.perf_counter() - t0

    return paired(rounds, arm, x86)
