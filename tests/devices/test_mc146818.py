"""MC146818 RTC on stepped virtual time (x86 q35; -rtc clock=vm, a fixed base date)."""

from __future__ import annotations

from driverkit import Machine, MachineSpec
from driverkit.devices.mc146818 import B_AIE, B_UIE, C_AF, C_IRQF, C_PF, C_UF, Mc146818

SPEC = MachineSpec(clock="stepped", clock_shift=9)  # 512 ns per instruction: seconds are cheap
SECOND = 1_000_000_000


async def test_layout_holds_on_the_live_device() -> None:
    async with Machine(SPEC) as m:
        report = (await Mc146818.probe(m)).check()
        assert report.ok, str(report)


async def test_time_advances_with_the_virtual_clock_only() -> None:
    async with Machine(SPEC) as m:
        rtc = await Mc146818.probe(m)
        rtc.binary()
        assert rtc.time() == (0, 0, 0)  # -rtc base=2000-01-01T00:00:00
        m.clock_step(SECOND - 5632)
        assert rtc.time() == (0, 0, 0)
        m.clock_step(5632)
        assert rtc.time() == (0, 0, 1)
        m.clock_step(61 * SECOND)
        assert rtc.time() == (0, 1, 2)


async def test_periodic_interrupt_at_the_rate_select() -> None:
    """RS = 6: 1024 Hz, one PF per 976.5625 us; PF and IRQF in register C, ISA IRQ 8 raised."""
    async with Machine(SPEC) as m:
        rtc = await Mc146818.probe(m)
        gsi_path = await m.irq.intercept_controller()
        assert gsi_path
        period = rtc.periodic(6)
        assert period == 976_562.5
        rtc.flags()
        m.clock_step(970_752)  # just short of one period (5632 ns, the shortest step, before)
        assert rtc.flags() & C_PF == 0
        m.clock_step(11_264)
        assert rtc.flags() & (C_PF | C_IRQF) == C_PF | C_IRQF
        assert m.irq.counts.get(8, 0) >= 1  # IOAPIC input 8 rose
        pf = 0
        for _ in range(100):  # 100 steps of ~1 ms: 102 or 103 periods, each one seen once
            m.clock_step(999_936)
            pf += bool(rtc.flags() & C_PF)
        assert pf == 100


async def test_update_ended_and_alarm_flags() -> None:
    async with Machine(SPEC) as m:
        rtc = await Mc146818.probe(m)
        rtc.binary()
        rtc.regs.seconds_alarm.write(5)
        rtc.regs.minutes_alarm.write(0)
        rtc.regs.hours_alarm.write(0)
        rtc.regs.reg_b.write(rtc.regs.reg_b.read() | B_UIE | B_AIE)
        rtc.flags()
        m.clock_step(SECOND + 512 * 4096)  # past the first update cycle
        assert rtc.flags() & (C_UF | C_AF) == C_UF
        m.clock_step(3 * SECOND)
        assert rtc.flags() & C_AF == 0
        m.clock_step(SECOND)  # 00:00:05
        assert rtc.flags() & C_AF
