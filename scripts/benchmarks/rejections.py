"""What Machine.check_accesses costs (on by default, "error"): every read that got a qtest
reply looks at QEMU's guest_errors log (one lseek when nothing was logged)."""

from __future__ import annotations

import time

from driverkit import Machine, MachineSpec

from . import Samples, figure, paired


@figure("IoMem.readl with check_accesses('error')", unit="ops/s",
        baseline="IoMem.readl unchecked", at_least=0.5)
async def checked_readl(rounds: int, scale: float) -> Samples:
    n = max(200, int(5000 * scale))
    async with Machine(MachineSpec()) as m:
        hpet = m.ioremap(0xFED00000, 0x400)

        def loop(policy: str | None) -> float:
            m.check_accesses(policy)
            t0 = time.perf_counter()
            for _ in range(n):
                hpet.readl(0)
            rate = n / (time.perf_counter() - t0)
            m.check_accesses(None)
            return rate

        return paired(rounds, lambda: loop("error"), lambda: loop(None))


@figure("IoMem.readl (RAM, shared memory) checked (the default)", unit="ops/s",
        baseline="the same loop unchecked", at_least=0.5)
async def checked_ram_readl(rounds: int, scale: float) -> Samples:
    """A shared-RAM read gets no qtest reply, so the check skips the log while none came."""
    n = max(2000, int(100000 * scale))
    async with Machine(MachineSpec()) as m:
        ram = m.ioremap(0x100000, 0x1000)

        def loop(policy: str | None) -> float:
            m.check_accesses(policy)
            t0 = time.perf_counter()
            for _ in range(n):
                ram.readl(0)
            rate = n / (time.perf_counter() - t0)
            m.trace.clear()
            m.check_accesses("error")
            return rate

        return paired(rounds, lambda: loop("error"), lambda: loop(None))
