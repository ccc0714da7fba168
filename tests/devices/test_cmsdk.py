"""CMSDK APB timer and UART on mps2-an385, on stepped virtual time."""

from __future__ import annotations

import json

import pytest

from driverkit import Machine, MachineSpec
from driverkit.devices.cmsdk import TICK_NS, CmsdkTimer, CmsdkUart

SPEC = MachineSpec(arch="arm", machine="mps2-an385", clock="stepped")


@pytest.mark.parametrize("driver", [CmsdkTimer, CmsdkUart])
async def test_layout_holds_on_the_live_device(driver) -> None:
    async with Machine(SPEC) as m:
        dev = await driver.probe(m)
        report = dev.check()
        assert report.ok, str(report)


async def test_timer_counts_in_apb_ticks_and_expires_on_time() -> None:
    async with Machine(SPEC) as m:
        t = await CmsdkTimer.probe(m)
        t.start(1000)
        m.clock_step(500 * TICK_NS)
        assert t.regs.value.read() == 501  # 499 edges after the load's own (measured)
        assert not t.expired()
        m.clock_step(500 * TICK_NS)
        assert t.regs.value.read() == 1 and not t.expired()
        m.clock_step(TICK_NS)
        assert t.expired() and t.regs.value.read() == 0  # reached zero: flag set
        m.clock_step(TICK_NS)
        assert t.regs.value.read() == 1000  # reloaded on the next edge
        t.clear()
        assert not t.expired()
        m.clock_step(999 * TICK_NS)
        assert not t.expired()
        m.clock_step(TICK_NS)
        assert t.expired()  # every RELOAD + 1 ticks


async def test_timer_does_not_count_when_disabled() -> None:
    async with Machine(SPEC) as m:
        t = await CmsdkTimer.probe(m)
        t.start(1000)
        t.regs.ctrl.write(0)
        before = t.regs.value.read()
        m.clock_step(10_000 * TICK_NS)
        assert t.regs.value.read() == before and not t.expired()


async def test_uart_transmits_to_the_console() -> None:
    async with Machine(SPEC) as m:
        u = await CmsdkUart.probe(m)
        u.enable()
        u.write(b"hi cmsdk\n")
        m.clock_step(1_000_000)
        await m.console.expect(b"hi cmsdk", timeout=5)


@pytest.mark.parametrize("name", ["cmsdk_timer", "nrf51_gpio"])
def test_cli_check_on_a_cortex_m_board(name: str, capsys) -> None:
    """`driverkit check` launches the board the driver declares (arch arm) and holds."""
    from driverkit.cli import main

    assert main(["check", name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
