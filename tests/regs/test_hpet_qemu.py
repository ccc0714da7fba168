"""driverkit.regs against a real device: the q35 HPET at 0xfed00000 in real QEMU (no PCI setup).

Each test gets a fresh machine (~60 ms), since the layout check expects reset state.
"""

from __future__ import annotations

import json
import re

import pytest
from construct import Int64ul

from driverkit import Machine, MachineSpec
from driverkit.devices.hpet import (
    HPET_BASE,
    HPET_CAPS_RESET,
    HPET_SIZE,
    HPET_WIDTHS,
    Capabilities,
    Config,
    HpetRegs,
    fire_timer0,
)
from driverkit.errors import AccessDenied, MachineTimeout
from driverkit.regs import RO, RW, Register, dump


@pytest.fixture
async def machine():
    async with Machine(MachineSpec(machine="q35")) as m:
        yield m


@pytest.fixture
def hpet(machine):
    return machine.ioremap(HPET_BASE, HPET_SIZE)


def writes(machine, addr):
    return [e for e in machine.trace if e.op == "write" and e.addr == addr]


async def test_read_decode_and_modify_on_the_hpet(machine, hpet):
    regs = HpetRegs(hpet)
    assert regs.capabilities.read_int() == HPET_CAPS_RESET
    caps = regs.capabilities.read()
    assert caps.vendor_id == 0x8086 and caps.num_tim_cap == 2 and caps.count_size_cap
    assert caps.counter_clk_period == 10_000_000  # fs: 10 ns
    assert regs.timers[2].config.read().int_route_cap == 0x00FF0104
    regs.config.modify(leg_rt_cnf=1)
    regs.config.modify(enable_cnf=1)
    assert hpet.readq(0x10) == 0x3  # the second modify kept leg_rt_cnf
    counter = await regs.main_counter.wait_for(lambda v: v > 10_000, timeout=5)
    assert counter > 10_000
    with pytest.raises(AccessDenied):
        regs.capabilities.write(0)


async def test_wait_for_a_w1c_interrupt_status_bit(machine, hpet):
    regs = HpetRegs(hpet)
    fire_timer0(regs)
    st = await regs.int_status.wait_for(t0_int_sts=1, timeout=5)
    assert st.t0_int_sts and not st.t1_int_sts
    regs.int_status.modify(t1_int_sts=0)  # a read-modify-write of the W1C register itself...
    assert regs.int_status.read().t0_int_sts  # ...does not write the pending 1 back (no clear)
    regs.int_status.write(t0_int_sts=1)  # write 1 to clear
    assert not regs.int_status.read().t0_int_sts
    with pytest.raises(MachineTimeout, match=r"int_status at 0x20 to satisfy t1_int_sts=1"):
        await regs.int_status.wait_for(t1_int_sts=1, timeout=0.05)


async def test_dump_reads_the_live_device(hpet):
    regs = HpetRegs(hpet)
    d = dump(regs)
    json.dumps(d)
    by = {e["name"]: e for e in d["registers"]}
    assert by["capabilities"]["value"] == HPET_CAPS_RESET
    assert by["capabilities"]["fields"]["vendor_id"] == 0x8086
    assert by["timers[1].comparator"]["value"] == 0xFFFFFFFFFFFFFFFF
    text = str(regs)
    assert "0x009896808086a201" in text and "vendor_id=0x8086" in text


async def test_correct_map_passes_the_non_destructive_check(machine, hpet):
    machine.trace.clear()
    report = HpetRegs.check(hpet)
    assert report.ok, str(report)
    by = {(f.register, f.test): f for f in report.findings}
    assert by[("capabilities", "reset")].observed == HPET_CAPS_RESET
    assert by[("config", "writes")].observed == 0x3  # ENABLE_CNF, LEG_RT_CNF
    assert by[("timers[0].config", "writes")].observed == 0x7F4E  # QEMU's timer write mask
    assert by[("timers[1].fsb_route", "widths")].verdict == "agree"
    assert by[("int_status", "w1c")].verdict == "skipped"
    assert by[("main_counter", "volatile")].verdict == "info"
    # W1C register: only zeros were ever written; the volatile counter never written
    assert all(e.value == 0 for e in writes(machine, HPET_BASE + 0x20))
    assert writes(machine, HPET_BASE + 0xF0) == []
    # the check restored what it wrote
    assert hpet.readq(0x10) == 0 and hpet.readq(0x108) == 0xFFFFFFFFFFFFFFFF
    data = json.loads(report.to_json())
    assert data["ok"] is True and data["mismatches"] == 0
    assert str(report).splitlines()[0].endswith("(non-destructive): agree")


async def test_destructive_check_triggers_and_clears_w1c(hpet):
    report = HpetRegs.check(hpet, destructive=True)
    assert report.ok, str(report)
    by = {(f.register, f.test): f for f in report.findings}
    assert by[("int_status", "w1c")].verdict == "agree"
    assert (
        "bits 0x0000000000000001 stayed on 0 and cleared on 1" in by[("int_status", "w1c")].note
    )
    assert "changes on its own" in by[("main_counter", "volatile")].note


async def test_wrong_reset_value_is_caught(hpet):
    class WrongReset(HpetRegs):
        capabilities = Register(
            0x000, Capabilities, RO, reset=0x009896808086A202, widths=HPET_WIDTHS
        )

    report = WrongReset.check(hpet)
    [m] = report.mismatches
    assert (m.register, m.test) == ("capabilities", "reset")
    assert (m.expected, m.observed) == (0x009896808086A202, HPET_CAPS_RESET)
    assert "bits 0x0000000000000003 differ" in m.note
    assert re.search(
        r"capabilities\s+0x000\s+RO\s+reset\s+DIFFER\s+0x009896808086a202", str(report)
    )


async def test_rw_register_declared_ro_is_caught(hpet):
    class ConfigDeclaredRO(HpetRegs):
        config = Register(0x010, Config, RO, reset=0, widths=HPET_WIDTHS)

    report = ConfigDeclaredRO.check(hpet)
    [m] = report.mismatches
    assert (m.register, m.test) == ("config", "writes")
    assert "bits 0x0000000000000003 declared read-only took writes" in m.note
    assert (m.expected, m.observed) == (0, 0x3)
    assert hpet.readq(0x10) == 0  # restored, so the HPET is left disabled


async def test_shifted_offset_is_caught(hpet):
    class Shifted(HpetRegs):
        config = Register(0x018, Config, RW, reset=0, widths=HPET_WIDTHS)  # really at 0x010
        capabilities = Register(0x008, Capabilities, RO, reset=HPET_CAPS_RESET, widths=HPET_WIDTHS)

    report = Shifted.check(hpet)
    by = {(m.register, m.test): m for m in report.mismatches}
    assert set(by) == {("capabilities", "reset"), ("config", "writes")}
    assert by[("capabilities", "reset")].observed == 0
    assert by[("capabilities", "reset")].offset == 0x008
    assert (
        "bits 0x0000000000000003 declared writable did not take writes"
        in by[("config", "writes")].note
    )


async def test_wrong_access_widths_are_caught(machine, hpet):
    class ByteWide(HpetRegs):
        capabilities = Register(0x000, Capabilities, RO, reset=HPET_CAPS_RESET, widths=(1, 4, 8))

    [m] = ByteWide.check(hpet).mismatches  # QEMU's log says the byte reads were refused
    assert (m.register, m.test) == ("capabilities", "widths")
    assert "width 1 refused by the device (QEMU did not perform the read)" in m.note
    machine.check_accesses(None)  # unchecked, the refused reads are QEMU's zeros: differ too
    [m] = ByteWide.check(hpet).mismatches
    assert "width 1 read 0x0000000000000000 instead of 0x009896808086a201" in m.note


async def test_a_volatile_counter_declared_as_plain_rw_is_caught(hpet):
    regs = HpetRegs(hpet)
    regs.config.modify(enable_cnf=1)  # counter running

    class CounterNotVolatile(HpetRegs):
        config = Register(0x010, Config, RW, widths=HPET_WIDTHS)
        main_counter = Register(0x0F0, Int64ul, RW, widths=HPET_WIDTHS)

    report = CounterNotVolatile.check(hpet)
    assert ("main_counter", "writes") in {(m.register, m.test) for m in report.mismatches}
