"""DWARF -> construct for the C shapes a register header uses: holes, bitfields, enums, unions,
nested structs, arrays, pointers, floats; across DWARF versions 2, 4 and 5 (gcc -gdwarf-N)."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from driverkit.elf import ElfImage, compare_struct
from driverkit.errors import ElfError

SOURCE = r"""
#include <stdint.h>
enum mode { MODE_OFF = 0, MODE_ON = 1, MODE_AUTO = 7 };
struct inner { uint16_t a; uint8_t b; };          /* 4 bytes: 1 byte of tail padding */
union word { uint32_t value; uint8_t bytes[4]; };
typedef volatile uint32_t reg32;
struct regs {
    uint8_t  ctrl;                 /* 0x00 */
    uint32_t busy : 1;             /* bit 8: C packs it into the unit ctrl already uses */
    uint32_t irq  : 1;             /* bit 9 */
    uint32_t code : 6;             /* bits 10-15 */
    uint32_t      : 8;             /* bits 16-23, unnamed: byte 0x02 */
    uint32_t hi   : 16;            /* does not fit in bits 24-31: next unit, bytes 0x04-0x05 */
    enum mode mode;                /* 0x08 */
    struct inner in;               /* 0x0c */
    union word w;                  /* 0x10 */
    int16_t temps[3];              /* 0x14, then a 2-byte hole */
    void *ptr;                     /* 0x20 on x86_64 */
    double gain;                   /* 0x28 */
    char name[8];                  /* 0x30 */
    reg32 doorbell;                /* 0x38 */
    _Bool flag;                    /* 0x3c */
};
struct regs the_regs;
typedef struct { uint32_t lo; uint64_t hi; } pair_t;   /* anonymous: found by its typedef */
pair_t the_pair;
"""


@pytest.fixture(scope="module", params=["-gdwarf-2", "-gdwarf-4", "-gdwarf-5"])
def regs_obj(request, tmp_path_factory) -> ElfImage:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is needed to build the DWARF fixtures (apt-get install gcc)")
    d = tmp_path_factory.mktemp("dwarf")
    (d / "regs.c").write_text(SOURCE)
    subprocess.run([gcc, request.param, "-O0", "-c", "regs.c", "-o", "regs.o"], cwd=d, check=True,
                   timeout=60)
    return ElfImage.open(d / "regs.o")


def test_offsets_sizes_and_holes(regs_obj: ElfImage):
    st = regs_obj.struct("regs")
    assert st.sizeof() == st.byte_size == 0x40
    layout = {f.name: (f.offset, f.size) for f in st.fields}
    assert layout == {
        "ctrl": (0x00, 1), "busy": (0x01, 1), "irq": (0x01, 1), "code": (0x01, 1), "hi": (0x04, 2),
        "mode": (0x08, 4), "in": (0x0C, 4), "w": (0x10, 4), "temps": (0x14, 6), "ptr": (0x20, 8),
        "gain": (0x28, 8), "name": (0x30, 8), "doorbell": (0x38, 4), "flag": (0x3C, 1),
    }


def test_parse_and_build_round_trip(regs_obj: ElfImage):
    st = regs_obj.struct("regs")
    raw = bytearray(0x40)
    raw[0] = 0x5A
    raw[1] = (0x2A << 2) | (1 << 1) | 1
    raw[2:4] = b"\x3c\x99"                 # the unnamed bits and the hole: not ours, must survive
    struct.pack_into("<H", raw, 0x04, 0xABCD)
    raw[6:8] = b"\x77\x66"
    struct.pack_into("<I", raw, 0x08, 7)
    struct.pack_into("<HB", raw, 0x0C, 0x1234, 0x56)
    struct.pack_into("<I", raw, 0x10, 0x11223344)
    struct.pack_into("<3h", raw, 0x14, -1, 2, -300)
    struct.pack_into("<Q", raw, 0x20, 0xFFFF800000001000)
    struct.pack_into("<d", raw, 0x28, 2.5)
    raw[0x30:0x38] = b"edu\0\0\0\0\0"
    struct.pack_into("<I", raw, 0x38, 0xCAFEF00D)
    raw[0x3C] = 1
    c = st.parse(bytes(raw))
    assert c.ctrl == 0x5A
    group = c["busy_irq_code"]
    assert (group.busy, group.irq, group.code, c.hi.hi) == (1, 1, 0x2A, 0xABCD)
    assert c.mode == "MODE_AUTO" and int(c.mode) == 7
    assert (c["in"].a, c["in"].b) == (0x1234, 0x56)
    assert c.w.value == 0x11223344 and c.w.bytes == b"\x44\x33\x22\x11"
    assert list(c.temps) == [-1, 2, -300]
    assert c.ptr == 0xFFFF800000001000 and c.gain == 2.5 and c.name == b"edu\0\0\0\0\0"
    assert c.doorbell == 0xCAFEF00D and c.flag is True
    # parse-modify-build changes only the field: holes and unnamed bits keep their bytes
    group.code = 0x15
    out = st.build(c)
    assert out[1] == (0x15 << 2) | 3
    assert out[:1] + out[2:] == bytes(raw[:1] + raw[2:])
    # and a build from a plain dict fills holes with zeros
    fresh = dict(c)
    for key in [k for k in fresh if k.startswith("_pad")]:
        del fresh[key]
    assert st.build(fresh)[2:4] == b"\0\0"


def test_bitfield_layout_compares_against_a_register_map(regs_obj: ElfImage):
    st = regs_obj.struct("regs")
    declared = {"ctrl": (0, 1), "busy": (1, 1), "irq": (1, 1), "code": (1, 1), "hi": (4, 2),
                "mode": (8, 4), "doorbell": (0x3C, 4)}
    mism = compare_struct(declared, st)
    assert ("doorbell", "offset", 0x38, 0x3C) in {(m.field, m.kind, m.expected, m.actual) for m in mism}
    assert {m.field for m in mism if m.kind == "missing"} == {
        "in", "w", "temps", "ptr", "gain", "name", "flag"}


def test_an_object_file_has_nothing_to_load(regs_obj: ElfImage):
    class Writer:
        def write_phys(self, addr: int, data: bytes) -> None:
            raise AssertionError("must not be called")

    with pytest.raises(ElfError, match="no PT_LOAD segments .*ET_REL"):
        regs_obj.load(Writer())


def test_nested_struct_and_array_paths(regs_obj: ElfImage):
    st = regs_obj.struct("regs")
    declared = {"in.a": (0x0C, 2), "in.b": (0x0F, 1), "temps[0]": (0x14, 2), "temps[2]": (0x18, 2)}
    got = [(m.field, m.kind, m.expected, m.actual)
           for m in compare_struct(declared, st, only_declared=True)]
    assert got == [("in.b", "offset", 0x0E, 0x0F)]


def test_typedef_of_an_anonymous_struct_and_struct_prefix(regs_obj: ElfImage):
    st = regs_obj.struct("pair_t")
    assert st.c_name == "pair_t" and st.sizeof() == 16
    assert [(f.name, f.offset, f.size) for f in st.fields] == [("lo", 0, 4), ("hi", 8, 8)]
    assert regs_obj.struct("struct regs").byte_size == 0x40
