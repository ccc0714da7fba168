"""What Machine.check_accesses costs (on by default, "error"): every read that got a qtest
reply looks at QEMU's guest_errors log (one lseek when nothing was logged)."""

from __future__ import annotations

import time

from driverkit import Machine, MachineSpec

from . import Samples, figure, paired


async def _checked_vs_unchecked(rounds: int, phys: int, n: int) -> Samples:
    """readl(0) of `phys` n times with the default check ('error'), paired with the check off;
    the machine is left with the default policy after each loop."""
    async with Machine(MachineSpec()) as m:
        io = m.ioremap(phys, 0x400)

        def loop(policy: str | None) -> float:
            m.check_accesses(policy)
            t0 = time.perf_counter()
            for _ in range(n):
                io.readl(0)
            rate = n / (time.perf_counter() - t0)
            m.trace.clear()
            m.check_accesses("error")
            return rate

        return paired(rounds, lambda: loop("error"), lambda: loop(None))


@figure("IoMem.readl with check_accesses('error')", unit="ops/s",
        baseline="IoMem.readl unchecked", at_least=0.5)
async def checked_readl(rounds: int, scale: float) -> Samples:
    """MMIO (HPET): every read gets a qtest reply, so every read looks at the log."""
    return await _checked_vs_unchecked(rounds, 0xFED00000, max(200, int(5000 * scale)))


@figure("IoMem.readl (RAM, shared memory) checked (the default)", unit="ops/s",
        baseline="the same loop unchecked", at_least=0.5)
async def checked_ram_readl(rounds: int, scale: float) -> Samples:
    """A shared-RAM read gets no qtest reply, so the check skips the log while none came."""
    return await _checked_vs_unchecked(rounds, 0x100000, max(2000, int(100000 * scale)))
