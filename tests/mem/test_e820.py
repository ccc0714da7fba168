"""e820 table edits and sanitising (arch/x86/kernel/e820.c) and the fw_cfg etc/e820 format."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driverkit.errors import MemModelError
from driverkit.mem.e820 import (
    E820Entry,
    E820Table,
    E820Type,
    encode_fw_cfg_e820,
    parse_e820_log,
    parse_fw_cfg_e820,
    sanitize,
)
from driverkit.mem.firmware import apply_seabios, qemu_fw_cfg_e820

RAM, RES, ACPI, PRAM = E820Type.RAM, E820Type.RESERVED, E820Type.ACPI, E820Type.PRAM
M = 1 << 20


def E(a, b, t):  # inclusive end, like the kernel prints
    return E820Entry(a, b - a + 1, t)


def test_highest_type_wins_and_neighbours_merge():
    out = sanitize(
        [E(0, 0xFFFFFFF, RAM), E(0xF800000, 0xFFFFFFF, RES), E(0xFFE0000, 0xFFFFFFF, RES)]
    )
    assert out == [E(0, 0xF7FFFFF, RAM), E(0xF800000, 0xFFFFFFF, RES)]
    # RAM cannot override reserved
    assert sanitize([E(0, 0xFFF, RES), E(0, 0x1FFF, RAM)]) == [
        E(0, 0xFFF, RES),
        E(0x1000, 0x1FFF, RAM),
    ]


def test_pram_never_merges():
    # measured: memmap=8M!248M on pc 256M left two separate persistent entries
    out = sanitize(
        [E(0x100000, 0xFFDFFFF, RAM), E(0xFFE0000, 0xFFFFFFF, RES), E(0xF800000, 0xFFFFFFF, PRAM)]
    )
    assert out == [
        E(0x100000, 0xF7FFFFF, RAM),
        E(0xF800000, 0xFFDFFFF, PRAM),
        E(0xFFE0000, 0xFFFFFFF, PRAM),
    ]
    assert sanitize([E(0, 0xFFF, PRAM), E(0x1000, 0x1FFF, PRAM)]) == [
        E(0, 0xFFF, PRAM),
        E(0x1000, 0x1FFF, PRAM),
    ]


def test_sanitize_refuses_what_the_kernel_refuses():
    assert sanitize([E(0, 0xFFF, RAM)]) is None  # fewer than two entries


def test_range_remove_cuts_and_splits():
    t = E820Table([E(0, 0xFFFF, RAM), E(0x10000, 0x1FFFF, RES)])
    assert t.range_remove(0x4000, 0x1000, RAM, True) == 0x1000
    assert t.range_remove(0x8000, (1 << 64) - 1 - 0x8000, RAM, True) == 0x10000 - 0x8000
    t.sanitize()
    assert t.entries == [E(0, 0x3FFF, RAM), E(0x5000, 0x7FFF, RAM), E(0x10000, 0x1FFFF, RES)]
    assert t.log[1] == "e820: remove [mem 0x00008000-0xfffffffffffffffe] usable"


def test_range_update_retypes_middle():
    t = E820Table([E(0, 0xFFFF, RAM), E(0x10000, 0x1FFFF, RES)])
    t.range_update(0x4000, 0x1000, RAM, RES)
    t.sanitize()
    assert t.entries == [
        E(0, 0x3FFF, RAM),
        E(0x4000, 0x4FFF, RES),
        E(0x5000, 0xFFFF, RAM),
        E(0x10000, 0x1FFFF, RES),
    ]


entries = st.lists(
    st.tuples(st.integers(0, 64), st.integers(1, 16), st.sampled_from([1, 2, 3, 4, 12])),
    min_size=2,
    max_size=8,
)


@given(entries)
def test_sanitize_properties(raw):
    es = [E820Entry(a * 0x1000, n * 0x1000, t) for a, n, t in raw]
    out = sanitize(es)
    assert out is not None
    # sorted, disjoint, no zero sizes
    for x, y in zip(out, out[1:]):
        assert x.end <= y.addr
    assert all(e.size > 0 for e in out)
    # every page gets the highest type of the inputs covering it
    for page in range(0, 80 * 0x1000, 0x1000):
        want = max((e.type for e in es if e.addr <= page < e.end), default=0)
        got = next((e.type for e in out if e.addr <= page < e.end), 0)
        assert got == want
    # neighbours of a mergeable type are merged
    for x, y in zip(out, out[1:]):
        assert not (x.end == y.addr and x.type == y.type and x.type not in (12, 0xEFFFFFFF))
    assert sanitize(out) == out or len(out) < 2


@given(
    st.lists(
        st.tuples(st.integers(0, (1 << 52)), st.integers(1, 1 << 40), st.integers(1, 20)),
        max_size=10,
    )
)
def test_fw_cfg_roundtrip(raw):
    es = [E820Entry(a, n, t) for a, n, t in raw]
    assert parse_fw_cfg_e820(encode_fw_cfg_e820(es)) == es


def test_fw_cfg_bytes_layout_and_errors():
    data = struct.pack("<QQI", 0, 0x10000000, 1) + struct.pack("<QQI", 0xFD00000000, 0x300000000, 2)
    assert parse_fw_cfg_e820(data) == [
        E820Entry(0, 0x10000000, 1),
        E820Entry(0xFD00000000, 0x300000000, 2),
    ]
    with pytest.raises(MemModelError, match="21 bytes is not a whole number of 20-byte entries"):
        parse_fw_cfg_e820(data[:21])


def test_seabios_edits_from_fw_cfg():
    raw = encode_fw_cfg_e820(qemu_fw_cfg_e820("pc", 256 * M))
    out = apply_seabios(parse_fw_cfg_e820(raw), "pc")
    assert [e.log_line() for e in out] == [
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved",
        "BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved",
        "BIOS-e820: [mem 0x0000000000100000-0x000000000ffdffff] usable",
        "BIOS-e820: [mem 0x000000000ffe0000-0x000000000fffffff] reserved",
        "BIOS-e820: [mem 0x00000000fffc0000-0x00000000ffffffff] reserved",
        "BIOS-e820: [mem 0x000000fd00000000-0x000000ffffffffff] reserved",
    ]
    # a different high-table size is a parameter
    out = apply_seabios(parse_fw_cfg_e820(raw), "pc", high_tables=0x24000)
    assert E(0xFFDC000, 0xFFFFFFF, RES) in out


def test_parse_e820_log():
    text = (
        "[ 0.0] BIOS-e820: [mem 0x0000000000100000-0x000000000ffdffff] usable\n"
        "user: [mem 0x000000000f800000-0x000000000fdfffff] persistent (type 12)\n"
    )
    assert parse_e820_log(text) == [E(0x100000, 0xFFDFFFF, RAM)]
    assert parse_e820_log(text, "user") == [E(0xF800000, 0xFDFFFFF, PRAM)]
