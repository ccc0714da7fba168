"""FAKE-BUS unit tests: register access logic over transport.MemoryBus (a bytearray, no QEMU).

These test pure logic only (encoding, masks, access rules). The same API against
real hardware is in test_hpet_qemu.py and test_edu_qemu.py.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from construct import (
    BitsInteger,
    BitStruct,
    ByteSwapped,
    Enum,
    Flag,
    FlagsEnum,
    Int8ul,
    Int16ub,
    Int32ub,
    Int32ul,
    Int64ul,
)

from driverkit.errors import (
    AccessDenied,
    BoundsError,
    MachineTimeout,
    RegisterError,
    ValueRangeError,
)
from driverkit.regs import (
    RC,
    RO,
    RW,
    W1C,
    W1S,
    WO,
    Block,
    Register,
    RegisterArray,
    RegisterBlock,
    RegisterMap,
    dump,
)

from .fake_device import fake_iomem

Ctrl = ByteSwapped(
    BitStruct(
        "_rsvd_hi" / BitsInteger(16),
        "mode" / Enum(BitsInteger(2), off=0, slow=1, fast=2),
        "level" / BitsInteger(6),
        "irq_pending" / Flag,  # W1C
        "_rsvd_lo" / BitsInteger(4),
        "busy" / Flag,  # RO
        "start" / Flag,  # W1S
        "enable" / Flag,
    )
)


class Dev(RegisterMap):
    id = Register(0x00, Int32ul, RO, reset=0x1234ABCD)
    data = Register(0x04, Int32ul, RW)
    ctrl = Register(0x08, Ctrl, RW, fields={"irq_pending": W1C, "busy": RO, "start": W1S})
    doorbell = Register(0x0C, Int32ul, WO)
    events = Register(0x10, Int32ul, RC)
    byte = Register(0x14, Int8ul, RW)
    half_be = Register(0x16, Int16ub, RW)
    word_be = Register(0x18, Int32ub, RW)
    wide = Register(0x20, Int64ul, RW)


@pytest.fixture
def io():
    return fake_iomem(0x100)


@pytest.fixture
def dev(io):
    return Dev(io)


def test_plain_int_registers_read_and_write(io, dev):
    io.writel(0, 0x1234ABCD)
    assert dev.id.read() == 0x1234ABCD
    dev.data.write(0xDEADBEEF)
    assert io.readl(4) == 0xDEADBEEF
    dev.wide.write(0x1122334455667788)
    assert io.readq(0x20) == 0x1122334455667788
    dev.byte.write(0xA5)
    assert io.readb(0x14) == 0xA5


def test_big_endian_registers_use_device_byte_order(io, dev):
    dev.word_be.write(0x11223344)
    assert io.read(0x18, 4) == bytes([0x11, 0x22, 0x33, 0x44])
    assert io.readl(0x18) == 0x44332211
    assert dev.word_be.read() == 0x11223344
    dev.half_be.write(0xABCD)
    assert io.read(0x16, 2) == b"\xab\xcd"


def test_big_endian_bitfield():
    class BeDev(RegisterMap):
        # a plain BitStruct is big-endian: "hi" is in the first byte in memory
        reg = Register(
            0, BitStruct("hi" / BitsInteger(4), "mid" / BitsInteger(16), "lo" / BitsInteger(12)), RW
        )

    io = fake_iomem(0x10)
    r = BeDev(io)
    r.reg.write(hi=0xA, mid=0x1234, lo=0xBCD)
    assert io.read(0, 4) == bytes.fromhex("a1234bcd")
    assert r.reg.read_int() == 0xA1234BCD
    r.reg.modify(mid=0xFFFF)
    assert io.read(0, 4) == bytes.fromhex("affffbcd")


def test_bitfield_read_decodes_enum_flag_and_int(io, dev):
    io.writel(8, (2 << 14) | (5 << 8) | (1 << 7) | (1 << 2) | 1)
    v = dev.ctrl.read()
    assert v.mode == "fast" and v.level == 5 and v.irq_pending is True
    assert v.busy is True and v.start is False and v.enable is True
    assert dev.ctrl.read_field("mode") == "fast"
    assert dev.ctrl.read_field("level") == 5


def test_write_fields_by_name_and_enum_string(io, dev):
    dev.ctrl.write(mode="slow", level=63, enable=True)
    assert io.readl(8) == (1 << 14) | (63 << 8) | 1
    dev.ctrl.write(0)
    assert io.readl(8) == 0


def test_modify_preserves_reserved_and_other_fields_and_never_writes_w1c_ones(io, dev):
    # reserved bits set, a W1C bit pending, a W1S bit reading back as 1
    io.writel(8, 0xABCD0000 | (0xF << 3) | (1 << 7) | (1 << 1) | (1 << 2))
    written = dev.ctrl.modify(level=9)
    raw = io.readl(8)
    assert raw == written
    assert raw & 0xFFFF0000 == 0xABCD0000  # reserved high bits kept
    assert raw & (0xF << 3) == 0xF << 3  # reserved low bits kept
    assert (raw >> 8) & 0x3F == 9
    assert raw & (1 << 2)  # RO busy bit written back as read (ignored by hardware)
    assert not raw & (1 << 7)  # W1C irq_pending NOT written back as 1
    assert not raw & (1 << 1)  # W1S start NOT written back as 1


def test_modify_can_clear_a_w1c_field_on_purpose(io, dev):
    io.writel(8, 1 << 7)
    dev.ctrl.modify(irq_pending=1)
    assert io.readl(8) & (1 << 7)


def test_call_time_access_errors(dev):
    with pytest.raises(AccessDenied, match=r"id at 0x0 is RO: write refused"):
        dev.id.write(1)
    with pytest.raises(AccessDenied, match="WO: read refused"):
        dev.doorbell.read()
    with pytest.raises(AccessDenied, match="field 'busy'.*RO"):
        dev.ctrl.modify(busy=1)
    with pytest.raises(AccessDenied, match="reserved"):
        dev.ctrl.modify(_rsvd_hi=1)
    with pytest.raises(AccessDenied, match="read-modify-write refused"):
        dev.events.modify(x=1)
    with pytest.raises(AccessDenied):
        dev.id.modify(x=1)
    dev.doorbell.write(1)  # allowed
    dev.events.read()  # RC reads are allowed when asked for explicitly


def test_bad_values_are_refused_with_numbers(dev):
    with pytest.raises(ValueRangeError, match=r"field 'level': value 0x40 does not fit in 6 bits"):
        dev.ctrl.modify(level=64)
    with pytest.raises(ValueRangeError, match="does not fit in a 32-bit register"):
        dev.data.write(1 << 32)
    with pytest.raises(RegisterError, match="no field 'levle'; fields: .*level"):
        dev.ctrl.modify(levle=1)
    with pytest.raises(RegisterError, match="cannot encode 'turbo'"):
        dev.ctrl.modify(mode="turbo")
    with pytest.raises(RegisterError, match="value or fields, not both"):
        dev.ctrl.write(0, enable=1)


def test_round_trip_container_write(io, dev):
    io.writel(8, 0x55AA0000 | (1 << 14) | (3 << 8) | 1)
    v = dev.ctrl.read()
    io.writel(8, 0)
    dev.ctrl.write(v)  # a Container (reserved fields included) writes back exactly
    assert io.readl(8) == 0x55AA0000 | (1 << 14) | (3 << 8) | 1


def test_flags_enum_field():
    class F(RegisterMap):
        r = Register(
            0,
            ByteSwapped(
                BitStruct("_r" / BitsInteger(13), "f" / FlagsEnum(BitsInteger(3), a=1, b=2, c=4))
            ),
            RW,
        )

    io = fake_iomem(0x10)
    regs = F(io)
    regs.r.modify(f={"a": True, "c": True})
    assert io.readw(0) == 5
    assert regs.r.read().f.c is True and regs.r.read().f.b is False


class Timer(RegisterBlock):
    size = 0x10
    ctrl = Register(0x0, Int32ul, RW)
    count = Register(0x8, Int64ul, RO)


class Arrays(RegisterMap):
    gpr = RegisterArray(Register(0x00, Int32ul, RW), count=4)
    spaced = RegisterArray(Register(0x10, Int8ul, RW), count=4, stride=4)
    timer = Block(Timer, 0x40, count=3)
    single = Block(Timer, 0x80)


def test_register_arrays_and_repeated_blocks():
    io = fake_iomem(0x100)
    r = Arrays(io)
    r.gpr[2].write(7)
    assert io.readl(8) == 7
    r.spaced[3].write(0x5A)
    assert io.readb(0x1C) == 0x5A
    r.timer[1].ctrl.write(0x11)
    assert io.readl(0x50) == 0x11
    io.writeq(0x68, 42)
    assert r.timer[2].count.read() == 42
    r.single.ctrl.write(3)
    assert io.readl(0x80) == 3
    assert len(r.timer) == 3 and [t.ctrl.path for t in r.timer] == [
        "timer[0].ctrl",
        "timer[1].ctrl",
        "timer[2].ctrl",
    ]
    with pytest.raises(BoundsError, match=r"timer\[3\]: the array has 3 elements"):
        r.timer[3]
    paths = [s.path for s in Arrays.layout()]
    assert paths[:4] == ["gpr[0]", "gpr[1]", "gpr[2]", "gpr[3]"]
    assert "timer[2].count" in paths and "single.ctrl" in paths


def test_variant_subclass_overrides_adds_and_removes():
    class Base(RegisterMap):
        a = Register(0x0, Int32ul, RW)
        b = Register(0x4, Int32ul, RW)
        c = Register(0x8, Int32ul, RW)

    class Variant(Base):
        b = Register(0x4, Int32ul, RO, reset=5)  # override
        d = Register(0xC, Int32ul, RW)  # add
        c = None  # remove

    io = fake_iomem(0x10)
    v = Variant(io)
    assert [s.path for s in Variant.layout()] == ["a", "b", "d"]
    with pytest.raises(AccessDenied):
        v.b.write(1)
    Base(io).b.write(1)  # the base is unchanged
    v.d.write(9)
    assert io.readl(0xC) == 9


def test_dump_is_json_ready_and_skips_destructive_reads(io, dev):
    io.writel(0, 0x1234ABCD)
    io.writel(0x10, 0xFFFF)  # RC register: must not be read (that would clear it)
    io.writel(8, 2 << 14)
    d = dump(dev)
    json.dumps(d)
    by = {e["name"]: e for e in d["registers"]}
    assert by["id"]["value"] == 0x1234ABCD
    assert by["events"]["value"] is None and by["events"]["skipped"] == "read-to-clear"
    assert by["doorbell"]["skipped"] == "write-only"
    assert by["ctrl"]["fields"]["mode"] == "fast"
    assert "_rsvd_hi" not in by["ctrl"]["fields"]
    assert by["ctrl"]["field_access"] == {"irq_pending": "W1C", "busy": "RO", "start": "W1S"}
    text = str(dev)
    assert "0x1234abcd" in text and "mode=fast" in text and "(read-to-clear)" in text
    assert io.readl(0x10) == 0xFFFF


def test_split_accesses_when_the_full_width_is_not_legal():
    seen = []
    io = fake_iomem(0x10, tracer=lambda op, addr, w, v: seen.append((op, addr, w)))

    class M(RegisterMap):
        counter = Register(0x0, Int64ul, RW, widths=(4,))

    r = M(io)
    r.counter.write(0x1111222233334444)
    assert seen == [("w", 0, 4), ("w", 4, 4)]
    seen.clear()
    assert r.counter.read() == 0x1111222233334444
    assert seen == [("r", 0, 4), ("r", 4, 4)]


async def test_wait_for_field_value(io, dev):
    async def hardware():
        await asyncio.sleep(0.02)
        io.writel(8, 1 << 7)

    task = asyncio.create_task(hardware())
    v = await dev.ctrl.wait_for(irq_pending=1, timeout=2)
    await task
    assert v.irq_pending is True
    v = await dev.data.wait_for(lambda x: x == 0, timeout=1)
    assert v == 0


async def test_wait_for_times_out_with_last_value(io, dev):
    io.writel(8, 3 << 8)
    with pytest.raises(
        MachineTimeout, match=r"ctrl at 0x8 to satisfy mode='fast' \(last value 0x300\)"
    ):
        await dev.ctrl.wait_for(mode="fast", timeout=0.05)
    with pytest.raises(RegisterError, match="timeout must be > 0"):
        await dev.ctrl.wait_for(mode="fast", timeout=0)


def test_map_needs_a_mapping_that_covers_it():
    from driverkit.errors import LayoutError

    with pytest.raises(LayoutError, match=r"needs 0x28 bytes .* only 0x20 bytes"):
        Dev(fake_iomem(0x20))
    with pytest.raises(TypeError, match=r"check\(iomem\)"):
        Dev.check()


def test_whole_register_enum_and_signed_types():
    from construct import Enum as CEnum
    from construct import Int16sl

    class M(RegisterMap):
        mode = Register(0x0, CEnum(Int32ul, idle=0, run=1, halt=2), RW)
        temp = Register(0x4, Int16sl, RW)

    io = fake_iomem(0x10)
    r = M(io)
    r.mode.write("halt")
    assert io.readl(0) == 2 and r.mode.read() == "halt"
    r.temp.write(-5)
    assert io.readw(4) == 0xFFFB and r.temp.read() == -5
    with pytest.raises(RegisterError, match="cannot build 'fly'"):
        r.mode.write("fly")
    with pytest.raises(RegisterError, match="no field"):
        r.mode.modify(x=1)  # no fields: use write()


def test_check_on_a_bound_instance_uses_its_mapping():
    class M(RegisterMap):
        a = Register(0x0, Int32ul, RW, reset=0)

    io = fake_iomem(0x10)
    report = M(io).check()
    assert report.ok and report.target == repr(io)
    assert M.check(io).ok
