"""nRF51 TIMER and GPIO on the microbit, on stepped virtual time."""

from __future__ import annotations

import pytest

from driverkit import Machine, MachineSpec
from driverkit.devices.nrf51 import SOC_QOM, Nrf51Gpio, Nrf51Timer

SPEC = MachineSpec(arch="arm", machine="microbit", clock="stepped")


@pytest.mark.parametrize("driver", [Nrf51Timer, Nrf51Gpio])
async def test_layout_holds_on_the_live_device(driver) -> None:
    async with Machine(SPEC) as m:
        report = (await driver.probe(m)).check()
        assert report.ok, str(report)


async def test_timer_counts_at_16mhz_over_prescaler() -> None:
    async with Machine(SPEC) as m:
        t = await Nrf51Timer.probe(m)
        t.configure(prescaler=0, bits=32)
        t.start()
        m.clock_step(1_000_000)  # 1 ms = 16000 ticks of 62.5 ns
        assert t.capture(0) == 16000
        t.configure(prescaler=4, bits=32)  # 1 MHz
        t.start()
        m.clock_step(1_000_000)
        assert t.capture(1) == 1000


async def test_compare_event_between_the_ticks_around_cc() -> None:
    """COMPARE[2] with CC = 250 at 1 MHz: clear one tick before, set one tick after (the
    exact boundary tick depends on how the steps fall in QEMU 7.2's nrf51_timer; see
    docs/clock.md)."""
    async with Machine(SPEC) as m:
        t = await Nrf51Timer.probe(m)
        t.configure(prescaler=4, bits=16)
        t.regs.cc[2].write(250)
        t.start()
        m.clock_step(249_000)
        assert t.regs.events_compare[2].read() == 0
        m.clock_step(2_000)
        assert t.regs.events_compare[2].read() == 1
        assert t.capture(0) == 251


async def test_gpio_input_and_output_lines() -> None:
    async with Machine(SPEC) as m:
        g = await Nrf51Gpio.probe(m)
        g.as_input(7)
        g.drive(7, 1)
        assert g.read(7) == 1
        g.drive(7, 0)
        assert g.read(7) == 0
        m.irq.intercept_out(SOC_QOM)
        g.as_output(9)
        g.set(9, 1)
        await m.irq.wait_raised(9, timeout=2)
        g.set(9, 0)
        await m.irq.wait_lowered(9, timeout=2)
