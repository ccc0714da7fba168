"""Vendor SVD files against the QEMU boards that emulate those chips: STM32F405 (netduinoplus2)
USART2/TIM2 from STM32F41x.svd, nRF51 (microbit) GPIO/TIMER0 from nrf51.svd - decoded and
checked on the live board, in a session, the vendor file's known error reported and patched."""

from __future__ import annotations

import json

import pytest

from driverkit.machine.spec import ARCHES

pytestmark = pytest.mark.skipif("arm" not in ARCHES, reason="32-bit Arm boards not supported "
                                "by this MachineSpec yet")

FIX = "USART2:\n  _modify:\n    SR:\n      resetValue: 0x000000C0\n"


def _rows(out: dict, register: str) -> list[dict]:
    return [r for r in out["findings"] if r.get("register", r.get("section")) == register]


def test_stm32_usart2_reset_error_reported_then_patched(cli, vendor_svd, tmp_path):
    svd = str(vendor_svd["STM32F41x.svd"])
    cli.json("start", "--name", "nd", "--arch", "arm", "--machine", "netduinoplus2")
    s = ("--session", "nd")
    regs = cli.json("regs", "--svd", svd, "USART2", *s)
    assert regs["base"] == 0x40004400 and "derived from USART6" in regs["source"]
    sr = [r for r in regs["registers"] if r["name"] == "SR"][0]
    assert sr["value"] == 0xC0  # what QEMU (and the part) reset SR to
    out = cli.json("check", "--svd", svd, "USART2", *s, rc=1)
    bad = [f for f in _rows(out, "SR") if f["verdict"] == "differ"]
    assert bad and bad[0]["expected"] == 0x00C00000 and bad[0]["observed"] == 0xC0
    fixes = tmp_path / "stm32f405.yaml"
    fixes.write_text(FIX)
    r = cli("check", "--svd", svd, "USART2", "--fixes", str(fixes), "--json", *s)
    fixed = json.loads(r.stdout)  # other registers may still differ (exit 1): SR must not
    assert not [f for f in _rows(fixed, "SR") if f["verdict"] == "differ"], fixed
    tim = cli.json("regs", "--svd", svd, "TIM2", *s)
    assert tim["base"] == 0x40000000 and any(x["name"] == "CNT" for x in tim["registers"])


def test_nrf51_gpio_and_timer_on_microbit(cli, vendor_svd):
    svd = str(vendor_svd["nrf51.svd"])
    cli.json("start", "--name", "mb", "--arch", "arm", "--machine", "microbit")
    s = ("--session", "mb")
    gpio = cli.json("regs", "--svd", svd, "GPIO", *s)
    pins = [x for x in gpio["registers"] if x["name"].startswith("PIN_CNF[")]
    assert len(pins) == 32 and all(p["value"] == 2 for p in pins)
    timer = cli.json("regs", "--svd", svd, "TIMER0", *s)
    assert [x["value"] for x in timer["registers"] if x["name"] == "PRESCALER"] == [4]
