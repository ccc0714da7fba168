"""ICH9 TCO watchdog on q35, on stepped virtual time (0.6 s ticks: clock_shift=9)."""

from __future__ import annotations

from driverkit import Machine, MachineSpec
from driverkit.devices.tco import TICK_NS, Tco

SPEC = MachineSpec(clock="stepped", clock_shift=9)


async def test_layout_holds_on_the_live_device() -> None:
    async with Machine(SPEC) as m:
        report = (await Tco.probe(m)).check()
        assert report.ok, str(report)


async def test_two_stage_expiry_on_time() -> None:
    async with Machine(SPEC) as m:
        tco = await Tco.probe(m)
        tco.arm(4)
        m.clock_step(4 * TICK_NS - 5632)
        assert tco.stage() == 0
        m.clock_step(2 * 5632)
        assert tco.stage() == 1  # first timeout: TCO1_STS.TIMEOUT, timer reloaded
        m.clock_step(4 * TICK_NS)
        assert tco.stage() == 2  # second: TCO2_STS.SECOND_TO_STS (noreboot keeps QEMU up)
        assert m.alive


async def test_reload_and_halt_keep_it_quiet() -> None:
    async with Machine(SPEC) as m:
        tco = await Tco.probe(m)
        tco.arm(4)
        for _ in range(5):
            m.clock_step(3 * TICK_NS)
            tco.regs.rld.write(1)  # the driver pets the dog
        assert tco.stage() == 0
        tco.halt()
        m.clock_step(20 * TICK_NS)
        assert tco.stage() == 0
