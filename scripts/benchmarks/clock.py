"""Stepped clock: one short clock_step against one synchronous qtest readl (the cheapest
round trip QEMU offers), and the host time a long step costs per virtual second."""

from __future__ import annotations

import time
from typing import Callable

from driverkit import Machine, MachineSpec

from . import Samples, figure, paired

STEPS = 200
HPET = 0xFED00000


def _per_op(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


async def _short_step(spec: MachineSpec, reg: Callable[[Machine], tuple[int, int, int]],
                      rounds: int, scale: float) -> Samples:
    """clock_step(1000) paired with a readl of the register `reg` names: (device base, its
    size, the register's offset)."""
    n = max(20, int(STEPS * scale))
    async with Machine(spec) as m:
        base, size, off = reg(m)
        io = m.ioremap(base, size)
        return paired(rounds, lambda: _per_op(lambda: m.clock_step(1000), n),
                      lambda: _per_op(lambda: io.readl(off), n))


@figure("clock_step(1000) on x86 q35", unit="s", baseline="one qtest readl round trip",
        at_most=100.0)
async def short_step(rounds: int, scale: float) -> Samples:
    return await _short_step(MachineSpec(clock="stepped"), lambda m: (HPET, 0x400, 0), rounds, scale)


@figure("clock_step(1000) on Cortex-M (mps2-an385)", unit="s",
        baseline="one qtest readl round trip", at_most=100.0)
async def short_step_m(rounds: int, scale: float) -> Samples:
    return await _short_step(MachineSpec(arch="arm", machine="mps2-an385", clock="stepped"),
                             lambda m: (0x40004000, 0x1000, 0xFE0), rounds, scale)  # UART0 PID


@figure("clock_step(1000) on Cortex-A (aarch64 virt)", unit="s",
        baseline="one qtest readl round trip", at_most=100.0)
async def short_step_a(rounds: int, scale: float) -> Samples:
    def pl031(m: Machine) -> tuple[int, int, int]:
        return next(r.start for r in m.flat.ranges if r.name == "pl031"), 0x1000, 0xFE0

    return await _short_step(MachineSpec(arch="aarch64", clock="stepped"), pl031, rounds, scale)


@figure("clock_step(10 ms) at shift 0 on x86 q35", unit="s",
        baseline="clock_step(1000)", at_most=1000.0)
async def long_step(rounds: int, scale: float) -> Samples:
    async with Machine(MachineSpec(clock="stepped")) as m:
        return paired(rounds, lambda: _per_op(lambda: m.clock_step(10_000_000), 3),
                      lambda: _per_op(lambda: m.clock_step(1000), 3))
