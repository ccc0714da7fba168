"""Definition-time errors: a wrong register map fails when its class is defined (no device)."""

from __future__ import annotations

import pytest
from construct import (
    BitsInteger,
    BitsSwapped,
    BitStruct,
    Bytes,
    ByteSwapped,
    Flag,
    Int16ul,
    Int24ul,
    Int32ul,
    Int64ul,
    Padding,
)

from driverkit.errors import LayoutError
from driverkit.regs import RO, RW, W1C, Block, Register, RegisterArray, RegisterBlock, RegisterMap


def test_overlapping_registers():
    with pytest.raises(LayoutError, match=r"registers a \[0x0..0x7\] and b \[0x4..0x7\] overlap"):

        class M(RegisterMap):
            a = Register(0x0, Int64ul, RW)
            b = Register(0x4, Int32ul, RW)


def test_overlap_introduced_by_a_subclass():
    class Base(RegisterMap):
        a = Register(0x0, Int32ul, RW)

    with pytest.raises(LayoutError, match="overlap"):

        class Variant(Base):
            b = Register(0x2, Int16ul, RW)


def test_aliases_may_share_an_address():
    class Uart(RegisterMap):
        rbr = Register(0x0, Int32ul, RO)
        thr = Register(0x0, Int32ul, RW, alias=True)

    assert [s.path for s in Uart.layout()] == ["rbr", "thr"]


def test_misaligned_offset():
    with pytest.raises(LayoutError, match=r"offset 0x6 is misaligned for a 32-bit register"):
        Register(0x6, Int32ul, RW)


def test_field_overflowing_the_register():
    with pytest.raises(LayoutError, match="total 33 bits but the register is 32 bits.*overflows"):
        Register(0, ByteSwapped(BitStruct("a" / BitsInteger(1), "b" / BitsInteger(32))), RW)
    with pytest.raises(LayoutError, match="total 40 bits; a register is 8, 16, 32 or 64 bits wide"):
        Register(0, BitStruct("a" / BitsInteger(40)), RW)
    with pytest.raises(LayoutError, match="fields total 31 bits; a register is 8, 16, 32 or 64"):
        Register(0, ByteSwapped(BitStruct("a" / BitsInteger(23), "b" / BitsInteger(8))), RW)


def test_illegal_register_widths():
    with pytest.raises(LayoutError, match="3 bytes wide"):
        Register(0, Int24ul, RW)
    with pytest.raises(LayoutError, match="not a supported field type"):
        Register(0, BitStruct("a" / Bytes(4)), RW)


def test_padding_is_refused_with_the_reason():
    with pytest.raises(LayoutError, match=r"Padding always builds zeros.*_rsvd"):
        Register(0, ByteSwapped(BitStruct("a" / BitsInteger(4), Padding(28))), RW)


def test_bits_swapped_multibit_fields_are_refused():
    with pytest.raises(LayoutError, match="BitsSwapped reverses multi-bit fields"):
        Register(0, BitsSwapped(BitStruct("a" / BitsInteger(4), "b" / BitsInteger(28))), RW)


def test_bad_declaration_facts():
    with pytest.raises(LayoutError, match="reset value: value 0x100000000 does not fit"):
        Register(0, Int32ul, RO, reset=1 << 32)
    with pytest.raises(LayoutError, match="no field 'nope'"):
        Register(0, ByteSwapped(BitStruct("a" / BitsInteger(32))), RW, fields={"nope": RO})
    with pytest.raises(LayoutError, match=r"widths \(8,\).*at most the register's 4 bytes"):
        Register(0, Int32ul, RW, widths=(8,))
    with pytest.raises(LayoutError, match="writable mask .* does not fit 32 bits"):
        Register(0, Int32ul, RW, writable=1 << 32)
    with pytest.raises(LayoutError, match="writable= is for RW registers; this one is W1C"):
        Register(0, Int32ul, W1C, writable=1)
    with pytest.raises(LayoutError, match="not an access kind"):
        Register(0, Int32ul, "RW")
    with pytest.raises(
        LayoutError, match="fields are not contiguous bit ranges of a little-endian"
    ):
        Register(0, BitStruct("a" / BitsInteger(4), "b" / BitsInteger(12)), RW, byteorder="little")


def test_declared_size_and_array_strides():
    with pytest.raises(LayoutError, match=r"lies outside the declared size 0x10"):

        class M(RegisterMap):
            size = 0x10
            a = Register(0x10, Int32ul, RW)

    class T(RegisterBlock):
        a = Register(0x0, Int32ul, RW)
        b = Register(0xC, Int32ul, RW)

    with pytest.raises(LayoutError, match="stride 0x8 is smaller than T's extent 0x10"):
        Block(T, 0x100, count=2, stride=8)
    with pytest.raises(LayoutError, match="stride 0x2 is smaller than the register's 4 bytes"):
        RegisterArray(Register(0, Int32ul, RW), count=2, stride=2)
    with pytest.raises(LayoutError, match="misaligned"):

        class A(RegisterMap):
            x = RegisterArray(Register(0, Int32ul, RW), count=2, stride=6)


def test_fields_with_flag_and_reserved_names_are_fine():
    r = Register(0, ByteSwapped(BitStruct("_rsvd" / BitsInteger(31), "on" / Flag)), RW, reset=1)
    assert r.reset == 1 and r.reserved_mask == 0xFFFFFFFE
