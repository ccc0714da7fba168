"""FAKE-BUS unit tests of the layout check's logic, over tests/regs/fake_device.FakeDevice.

FakeDevice is a labelled fake (a bytearray with per-offset rules), used to reach every
branch of the checker cheaply. The check against real hardware is test_hpet_qemu.py.
"""

from __future__ import annotations

import json

from construct import BitsInteger, BitStruct, ByteSwapped, Flag, Int32ul

from driverkit.regs import RC, RO, RW, W1C, W1S, WO, Register, RegisterMap

from .fake_device import FakeDevice, fake_device_iomem

MASK32 = 0xFFFFFFFF


def make_device() -> FakeDevice:
    dev = FakeDevice(0x100)
    dev.poke(0x00, 4, 0xC0FFEE01)
    dev.ro.add(0x00)
    dev.invert.add(0x04)
    dev.w1c.add(0x08)
    dev.rc.add(0x0C)
    return dev


class Good(RegisterMap):
    id = Register(0x00, Int32ul, RO, reset=0xC0FFEE01)
    liveness = Register(0x04, Int32ul, RW, reset=0, readback=lambda x: ~x & MASK32)
    status = Register(
        0x08, Int32ul, W1C, reset=0, trigger=lambda regs: regs.iomem._bus.poke(8, 4, 0x5)
    )
    events = Register(0x0C, Int32ul, RC)
    scratch = Register(0x10, Int32ul, RW, reset=0)
    kick = Register(0x14, Int32ul, WO)
    magic = Register(0x18, Int32ul, RW, side_effects=True)


def accesses_at(dev: FakeDevice, addr: int, op: str | None = None):
    return [e for e in dev.log if e[1] == addr and (op is None or e[0] == op)]


def test_correct_declaration_passes_and_restores():
    dev = make_device()
    io = fake_device_iomem(dev)
    io.writel(0x10, 0x12345678)
    report = Good.check(io)
    assert [(m.register, m.test) for m in report.mismatches] == [("scratch", "reset")]
    assert io.readl(0x10) == 0x12345678  # restored after the patterns
    assert dev.mem[4:8] == bytes(4)  # liveness restored through its inverting read-back
    json.loads(report.to_json())


def test_fresh_device_passes():
    assert Good.check(fake_device_iomem(make_device())).ok


def test_non_destructive_check_avoids_destructive_accesses():
    dev = make_device()
    dev.poke(0x0C, 4, 0xAA)
    dev.poke(0x08, 4, 0x3)
    report = Good.check(fake_device_iomem(dev))
    assert accesses_at(dev, 0x0C) == []  # RC never read
    assert accesses_at(dev, 0x14) == []  # WO never written
    assert accesses_at(dev, 0x18) == []  # side_effects never touched
    assert all(v == 0 for _, _, _, v in accesses_at(dev, 0x08, "w"))  # W1C: only zeros written
    assert dev.mem[8] == 0x3 and dev.mem[0xC] == 0xAA
    skipped = {(f.register, f.test) for f in report.findings if f.verdict == "skipped"}
    assert {
        ("events", "reset"),
        ("kick", "writes"),
        ("magic", "writes"),
        ("status", "w1c"),
    } <= skipped


def test_destructive_check_exercises_w1c_rc_wo():
    dev = make_device()
    dev.poke(0x0C, 4, 0x80)
    report = Good.check(fake_device_iomem(dev), destructive=True)
    assert report.ok, str(report)
    by = {(f.register, f.test): f for f in report.findings}
    assert by[("status", "w1c")].verdict == "agree"  # trigger set bits 0x5, writing 1s cleared them
    assert by[("events", "read-to-clear")].verdict == "agree"
    assert accesses_at(dev, 0x14, "w")  # WO written when asked


def test_wrong_reset_value_is_reported_precisely():
    class WrongReset(Good):
        id = Register(0x00, Int32ul, RO, reset=0xC0FFEE02)

    report = WrongReset.check(fake_device_iomem(make_device()))
    assert not report.ok
    [m] = report.mismatches
    assert (m.register, m.test, m.expected, m.observed) == ("id", "reset", 0xC0FFEE02, 0xC0FFEE01)
    assert "bits 0x00000003 differ" in m.note
    assert "DIFFER" in str(report) and "0xc0ffee02" in str(report)


def test_missing_readback_transform_is_caught():
    class NoReadback(Good):
        liveness = Register(0x04, Int32ul, RW, reset=0)

    [m] = NoReadback.check(fake_device_iomem(make_device())).mismatches
    assert m.register == "liveness" and m.test == "writes"
    assert "wrote 0xffffffff expected 0xffffffff read 0x00000000" in m.note


def test_rw_register_declared_ro_and_ro_declared_rw():
    class Swapped(Good):
        id = Register(0x00, Int32ul, RW, reset=0xC0FFEE01)
        scratch = Register(0x10, Int32ul, RO, reset=0)

    report = Swapped.check(fake_device_iomem(make_device()))
    by = {m.register: m for m in report.mismatches}
    assert set(by) == {"id", "scratch"}
    assert "bits 0xffffffff declared writable did not take writes" in by["id"].note
    assert "bits 0xffffffff declared read-only took writes" in by["scratch"].note
    assert by["scratch"].observed == MASK32 and by["scratch"].expected == 0


def test_writable_mask_and_field_access():
    class Partial(Good):
        scratch = Register(0x10, Int32ul, RW, reset=0, writable=0xFF)

    [m] = Partial.check(fake_device_iomem(make_device())).mismatches
    assert "bits 0xffffff00 declared read-only took writes" in m.note

    class Fields(Good):
        scratch = Register(
            0x10,
            ByteSwapped(BitStruct("_rsvd" / BitsInteger(24), "hi" / BitsInteger(7), "on" / Flag)),
            RW,
            reset=0,
            fields={"hi": RO},
        )

    [m] = Fields.check(fake_device_iomem(make_device())).mismatches
    assert "bits 0x000000fe declared read-only took writes" in m.note  # reserved bits not judged


def test_w1c_declared_on_plain_memory_is_caught():
    class NotW1C(Good):
        scratch = Register(
            0x10, Int32ul, W1C, reset=0, trigger=lambda regs: regs.iomem.writel(0x10, 0x30)
        )

    report = NotW1C.check(fake_device_iomem(make_device()), destructive=True)
    [m] = report.mismatches
    assert m.test == "w1c" and "writing 0 cleared bits 0x00000030" in m.note


def test_w1s_register_destructive_check():
    class Sets(Good):
        scratch = Register(0x10, Int32ul, W1S, reset=0)

    dev = make_device()
    report = Sets.check(fake_device_iomem(dev))
    assert all(v == 0 for _, _, _, v in accesses_at(dev, 0x10, "w"))  # non-destructive: zeros only
    report = Sets.check(fake_device_iomem(dev), destructive=True)
    by = {(f.register, f.test): f for f in report.findings}
    assert by[("scratch", "w1s")].verdict == "agree"
    assert by[("scratch", "w1s")].observed == MASK32
