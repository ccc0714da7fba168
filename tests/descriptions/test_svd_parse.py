"""from_svd on real vendor files (nRF51, STM32F41x from pyOCD's wheel): derivedFrom, dim
arrays, clusters, field access, reset values, the svdtools-style fixes, and bad input."""

from __future__ import annotations

import pytest

from driverkit.errors import DescriptionError, UnknownPeripheral
from driverkit.regs import RC, RO, RW, W1C, WO
from driverkit.regs.svd import from_svd, peripherals

USART_SR_FIX = {"USART2": {"_modify": {"SR": {"resetValue": 0xC0}}}}


def _slot(cls, path):
    return {s.path: s for s in cls.layout()}[path]


def test_stm32_usart2_is_derived_from_usart6(vendor_svd):
    svd = vendor_svd["STM32F41x.svd"]
    u2, u6 = from_svd(svd, "USART2"), from_svd(svd, "USART6")
    assert u2.base_address == 0x40004400 and u6.base_address == 0x40011400
    assert "derived from USART6" in u2.source
    assert [s.path for s in u2.layout()] == ["SR", "DR", "BRR", "CR1", "CR2", "CR3", "GTPR"]
    assert [(s.offset, s.reg.reset) for s in u2.layout()] == \
        [(s.offset, s.reg.reset) for s in u6.layout()]
    sr = _slot(u2, "SR").reg
    assert sr.reset == 0x00C00000  # the vendor file's error: the part resets SR to 0xC0
    assert sr.access is RW and sr.field_access["TXE"] is RO and "RXNE" not in sr.field_access
    assert sr.shape.field("TXE").mask == 1 << 7


def test_fixes_patch_the_derived_peripheral_only(vendor_svd, tmp_path):
    svd = vendor_svd["STM32F41x.svd"]
    fixes = tmp_path / "stm32f405.yaml"
    fixes.write_text("USART2:\n  _modify:\n    SR:\n      resetValue: 0x000000C0\n")
    assert _slot(from_svd(svd, "USART2", fixes=fixes), "SR").reg.reset == 0xC0
    assert _slot(from_svd(svd, "USART6", fixes=fixes), "SR").reg.reset == 0x00C00000
    assert _slot(from_svd(svd, "USART2", fixes=USART_SR_FIX), "SR").reg.reset == 0xC0
    with pytest.raises(DescriptionError, match="no register matches 'SRX'.*SR"):
        from_svd(svd, "USART2", fixes={"USART2": {"_modify": {"SRX": {"resetValue": 0}}}})
    with pytest.raises(DescriptionError, match="unknown property 'resetvalue'"):
        from_svd(svd, "USART2", fixes={"USART2": {"_modify": {"SR": {"resetvalue": 0}}}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("USART2: [unclosed\n")
    with pytest.raises(DescriptionError, match="not valid YAML"):
        from_svd(svd, "USART2", fixes=bad)


def test_stm32_timer_registers(vendor_svd):
    tim2 = from_svd(vendor_svd["STM32F41x.svd"], "TIM2")
    assert tim2.base_address == 0x40000000
    paths = [s.path for s in tim2.layout()]
    assert paths[:4] == ["CR1", "CR2", "SMCR", "DIER"] and "CNT" in paths and "ARR" in paths
    sr = _slot(tim2, "SR").reg
    assert sr.shape.field("UIF").mask == 1


def test_nrf51_gpio_array_and_timer(vendor_svd):
    svd = vendor_svd["nrf51.svd"]
    gpio = from_svd(svd, "GPIO")
    assert gpio.base_address == 0x50000000
    pins = [s for s in gpio.layout() if s.path.startswith("PIN_CNF[")]
    assert len(pins) == 32 and pins[0].offset == 0x700 and pins[31].offset == 0x77C
    assert pins[0].reg.reset == 2  # input buffer disconnected at reset
    assert gpio.PIN_CNF.count == 32 and gpio.PIN_CNF.stride == 4
    timer = from_svd(svd, "TIMER0")
    assert _slot(timer, "TASKS_START").reg.access is WO
    assert [s.offset for s in timer.layout() if s.path.startswith("CC[")] == [
        0x540, 0x544, 0x548, 0x54C]
    assert _slot(timer, "PRESCALER").reg.reset == 4


def test_nrf51_clusters_become_blocks(vendor_svd):
    ppi = from_svd(vendor_svd["nrf51.svd"], "PPI")
    assert ppi.TASKS_CHG.count == 4 and ppi.TASKS_CHG.stride == 8
    offs = {s.path: s.offset for s in ppi.layout()}
    assert offs["TASKS_CHG[1].EN"] == 8 and offs["TASKS_CHG[1].DIS"] == 12
    assert offs["CH[0].EEP"] == 0x510 and offs["CH[1].TEP"] == 0x51C


def test_unknown_peripheral_lists_those_that_exist(vendor_svd):
    svd = vendor_svd["nrf51.svd"]
    with pytest.raises(UnknownPeripheral, match=r"no peripheral 'UART7'.*GPIO.*TIMER0"):
        from_svd(svd, "UART7")
    assert peripherals(svd)["GPIO"] == 0x50000000


@pytest.mark.parametrize("text, match", [
    ("<device><name>x</name", "not well-formed XML"),
    ("<notadevice/>", "root element is <notadevice>"),
    ("<device><peripherals><peripheral><name>A</name><baseAddress>zz</baseAddress>"
     "</peripheral></peripherals></device>", "A: no valid baseAddress"),
    ("<device><peripherals><peripheral><name>A</name><baseAddress>0</baseAddress><registers>"
     "<register><name>R</name><addressOffset>qq</addressOffset></register></registers>"
     "</peripheral></peripherals></device>", "R: no valid addressOffset"),
    ("<device><peripherals><peripheral><name>A</name><baseAddress>0</baseAddress><registers>"
     "<register><name>R</name><addressOffset>0</addressOffset><size>7</size></register>"
     "</registers></peripheral></peripherals></device>", "size 7 bits"),
])
def test_malformed_svd_is_a_clear_error(tmp_path, text, match):
    f = tmp_path / "bad.svd"
    f.write_text(text)
    with pytest.raises(DescriptionError, match=match):
        from_svd(f, "A")


def test_a_device_node_is_refused(tmp_path):
    with pytest.raises(DescriptionError, match="not a regular file"):
        from_svd("/dev/zero", "A")


def test_access_kinds_map(tmp_path):
    f = tmp_path / "mini.svd"
    f.write_text("""<device><name>mini</name><addressUnitBits>8</addressUnitBits><width>32</width>
<size>32</size><resetValue>0</resetValue><resetMask>0xFFFFFFFF</resetMask>
<peripherals><peripheral><name>P</name><baseAddress>0x1000</baseAddress>
<addressBlock><offset>0</offset><size>0x100</size><usage>registers</usage></addressBlock>
<registers>
<register><name>A</name><addressOffset>0</addressOffset><access>read-write</access>
 <modifiedWriteValues>oneToClear</modifiedWriteValues></register>
<register><name>B</name><addressOffset>4</addressOffset><access>read-only</access>
 <readAction>clear</readAction></register>
<register><name>check</name><addressOffset>8</addressOffset><access>write-only</access></register>
<register><name>D</name><addressOffset>0xC</addressOffset><size>16</size>
 <resetValue>0x12</resetValue><resetMask>0xFF</resetMask></register>
</registers></peripheral></peripherals></device>""")
    p = from_svd(f, "P")
    kinds = {s.path: s.reg.access for s in p.layout()}
    assert kinds == {"A": W1C, "B": RC, "check_": WO, "D": RW}
    assert _slot(p, "D").reg.width == 2 and _slot(p, "D").reg.reset is None  # mask 0xFF
    assert any("check" in n for n in p.notes)
