"""ElfImage on the built firmware: symbols, sections, segments, DWARF struct; broken files."""

from __future__ import annotations

import struct
from pathlib import Path

import construct as cs
import pytest

from driverkit.elf import ElfImage, FieldLayout, compare_struct, layout_of
from driverkit.errors import DriverkitError, ElfError, LayoutError, SymbolNotFound
from driverkit.transport.base import MemoryBus


def test_symbols(firmware: ElfImage):
    assert firmware.machine == "EM_386" and firmware.elfclass == 32
    base = firmware.symbols["carveout_base"]
    assert (base.size, base.kind, base.binding, base.section) == (8, "object", "global", ".bss")
    assert firmware.symbols["fw_state"].size == 4
    start = firmware.symbols["_start"]
    assert start.kind == "func" and firmware.entry == start.address
    main = firmware.symbols["fw_main"]
    assert main.kind == "func" and main.size > 0
    assert firmware.symbols.at(main.address + main.size - 1) == main
    assert firmware.symbols.at(firmware.symbols["_image_end"].address) is None
    assert firmware.symbols["fw_protocol_version"].section == ".data"
    # published variables live inside the image the firmware reserves for itself
    lo, hi = firmware.symbols["_image_start"].address, firmware.symbols["_image_end"].address
    assert lo == 0x100000 and lo < base.address < hi


def test_sections_and_segments(firmware: ElfImage):
    names = {s.name for s in firmware.sections}
    assert {".text", ".rodata", ".data", ".bss", ".debug_info", ".symtab"} <= names
    bss = next(s for s in firmware.sections if s.name == ".bss")
    assert bss.type == "SHT_NOBITS"
    segs = firmware.segments
    assert segs and all(s.paddr >= 0x100000 for s in segs)
    text = next(s for s in segs if "X" in s.flags)
    assert text.paddr <= firmware.entry < text.paddr + text.memsz
    rw = next(s for s in segs if "W" in s.flags)
    assert rw.memsz > rw.filesz                      # .bss: zero-filled tail
    assert bss.address + bss.size <= rw.paddr + rw.memsz
    # the multiboot header (magic 0x1BADB002) is in the first 8 KiB of the file's first segment
    first = firmware.segment_bytes(segs[0])
    assert struct.pack("<I", 0x1BADB002) in first[:8192]


def test_load_writes_segments_and_zeroes_bss(firmware: ElfImage):
    bus = MemoryBus(0x20000, base=0x100000)          # FAKE bus: pure-logic check of load()
    bus.memset(0x100000, 0x20000, 0xAA)

    class Writer:
        def write_phys(self, addr: int, data: bytes) -> None:
            bus.write_bytes(addr, data)

    assert firmware.load(Writer()) is firmware
    for seg in firmware.segments:
        assert bus.read_bytes(seg.paddr, seg.filesz) == firmware.segment_bytes(seg)
        tail = seg.memsz - seg.filesz
        assert bus.read_bytes(seg.paddr + seg.filesz, tail) == bytes(tail)


def test_mailbox_struct_from_dwarf(firmware: ElfImage):
    mb = firmware.struct("mailbox")
    assert mb.c_name == "mailbox" and mb.sizeof() == mb.byte_size == 0x48 + 256
    offs = {f.name: (f.offset, f.size) for f in mb.fields}
    assert offs["magic"] == (0, 4)
    assert offs["version"] == (4, 2) and offs["header_size"] == (6, 2)
    assert offs["doorbell"] == (8, 4) and offs["done"] == (0xC, 4)
    assert offs["arg"] == (0x18, 16) and offs["ret"] == (0x28, 16)
    assert offs["served"] == (0x40, 8) and offs["data"] == (0x48, 256)
    raw = bytearray(mb.sizeof())
    struct.pack_into("<IHHIIIi4I4I", raw, 0, 0x424D4B44, 1, 0x48, 7, 6, 2, -22, 1, 2, 3, 4, 5, 6, 7, 8)
    struct.pack_into("<Q", raw, 0x40, 1 << 40)
    c = mb.parse(bytes(raw))
    assert (c.magic, c.version, c.doorbell, c.done, c.status) == (0x424D4B44, 1, 7, 6, -22)
    assert list(c.arg) == [1, 2, 3, 4] and list(c.ret) == [5, 6, 7, 8] and c.served == 1 << 40
    assert mb.build(c) == bytes(raw)
    assert firmware.struct("mailbox") is mb           # cached


def test_unknown_struct_suggests(firmware: ElfImage):
    with pytest.raises(ElfError, match=r"struct 'mailboxx'.*did you mean mailbox"):
        firmware.struct("mailboxx")


def test_missing_symbol_names_it_and_suggests(firmware: ElfImage):
    with pytest.raises(SymbolNotFound) as info:
        firmware.symbols["carveout_bse"]
    msg = str(info.value)
    assert "'carveout_bse'" in msg and "did you mean carveout_base" in msg
    assert isinstance(info.value, KeyError) and isinstance(info.value, ElfError)
    assert "carveout_bse" not in firmware.symbols
    with pytest.raises(SymbolNotFound, match="no symbol 'zzzz_nothing_like_it'") as info:
        firmware.symbols["zzzz_nothing_like_it"]
    assert "did you mean" not in str(info.value)


# --- broken files -------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path):
    with pytest.raises(ElfError, match="no such file"):
        ElfImage.open(tmp_path / "absent.elf")


def test_not_an_elf(tmp_path: Path):
    p = tmp_path / "text.elf"
    p.write_text("hello, world\n")
    with pytest.raises(ElfError, match=r"not an ELF file: magic b'hell'"):
        ElfImage.open(p)


@pytest.mark.parametrize(
    "offset, value, message",
    [
        (4, b"\x07", r"EI_CLASS is 7"),                       # neither 32 nor 64-bit
        (5, b"\x00", r"EI_DATA is 0"),
        (0x2A, b"\x99\x00", r"e_phentsize is 153, expected 32"),
        (0x20, struct.pack("<I", 0x7FFFFF00), r"section header table .* ends at .* only"),
        (0x34 + 16, struct.pack("<I", 0x7FFFFF00), r"segment 0 \(PT_LOAD\) needs file bytes"),
    ],
)
def test_corrupt_header(firmware_path: Path, tmp_path: Path, offset: int, value: bytes, message: str):
    data = bytearray(firmware_path.read_bytes())
    data[offset: offset + len(value)] = value
    p = tmp_path / "corrupt.elf"
    p.write_bytes(bytes(data))
    with pytest.raises(ElfError, match=message):
        ElfImage.open(p)


def test_corrupt_symtab_is_an_elf_error(firmware: ElfImage, firmware_path: Path, tmp_path: Path):
    data = bytearray(firmware_path.read_bytes())
    symtab = next(s for s in firmware.sections if s.name == ".symtab")
    # garbage in the middle of the symbol table's link/entsize bookkeeping: point sh_link at nowhere
    shoff = struct.unpack_from("<I", data, 0x20)[0]
    index = [s.name for s in firmware.sections].index(".symtab") + 1   # +1: the unnamed NULL section
    struct.pack_into("<I", data, shoff + index * 40 + 24, 0xFFFF)        # sh_link
    p = tmp_path / "badlink.elf"
    p.write_bytes(bytes(data))
    with pytest.raises(ElfError, match="corrupt ELF"):
        ElfImage.open(p)
    assert symtab.size > 0


@pytest.mark.parametrize("keep", [10, 40, 0x1800])
def test_truncated(firmware_path: Path, tmp_path: Path, keep: int):
    p = tmp_path / "short.elf"
    p.write_bytes(firmware_path.read_bytes()[:keep])
    with pytest.raises(ElfError, match=r"truncated: .*\b" + (f"{keep} bytes" if keep < 52 else f"{keep:#x}")):
        ElfImage.open(p)


# --- layout comparison --------------------------------------------------------------------------

# The mailbox header as a driver might declare it, with two mistakes: `done` as 16-bit, and
# `served` moved by a forgotten 4-byte field; `extra_flag` does not exist in C.
WRONG = cs.Struct(
    "magic" / cs.Int32ul, "version" / cs.Int16ul, "header_size" / cs.Int16ul,
    "doorbell" / cs.Int32ul, "done" / cs.Int16ul, cs.Padding(2),
    "cmd" / cs.Int32ul, "status" / cs.Int32sl, "arg" / cs.Array(4, cs.Int32ul),
    "ret" / cs.Array(4, cs.Int32ul), "data_len" / cs.Int32ul, "reserved" / cs.Int32ul,
    "extra_flag" / cs.Int32ul, "served" / cs.Int64ul,
)


def test_compare_struct_reports_each_field(firmware: ElfImage):
    mismatches = compare_struct(WRONG, firmware.struct("mailbox"))
    got = {(m.field, m.kind, m.expected, m.actual) for m in mismatches}
    assert got == {
        ("done", "size", 4, 2),
        ("served", "offset", 0x40, 0x44),
        ("data", "missing", 0x48, None),
        ("extra_flag", "extra", None, 0x40),
    }
    text = "\n".join(map(str, mismatches))
    assert "done: size differs: C has 0x4, Python has 0x2" in text
    assert "served: offset differs: C has 0x40, Python has 0x44" in text


def test_compare_struct_agrees_with_itself_and_a_correct_declaration(firmware: ElfImage):
    mb = firmware.struct("mailbox")
    assert compare_struct(mb, mb) == []
    right = cs.Struct(
        "magic" / cs.Int32ul, "version" / cs.Int16ul, "header_size" / cs.Int16ul,
        "doorbell" / cs.Int32ul, "done" / cs.Int32ul, "cmd" / cs.Int32ul, "status" / cs.Int32sl,
        "arg" / cs.Array(4, cs.Int32ul), "ret" / cs.Array(4, cs.Int32ul), "data_len" / cs.Int32ul,
        "_reserved" / cs.Int32ul, "served" / cs.Int64ul, "data" / cs.Bytes(256),
    )
    # "_reserved" is private on the Python side, so the C "reserved" is reported missing only
    assert [(m.field, m.kind) for m in compare_struct(right, mb)] == [("reserved", "missing")]


def test_compare_register_map_like_object(firmware: ElfImage):
    class Reg:                                           # the duck type a RegisterMap entry offers
        def __init__(self, offset: int, subcon: cs.Construct) -> None:
            self.offset, self.subcon = offset, subcon

    class MailboxRegs:
        magic = Reg(0x00, cs.Int32ul)
        doorbell = Reg(0x08, cs.Int32ul)
        done = Reg(0x10, cs.Int32ul)                      # wrong: C has 0x0c

    mismatches = compare_struct(MailboxRegs, {f.name: (f.offset, f.size)
                                              for f in firmware.struct("mailbox").fields
                                              if f.name in ("magic", "doorbell", "done")})
    assert [(m.field, m.kind, m.expected, m.actual) for m in mismatches] == [("done", "offset", 0xC, 0x10)]


def test_layout_of_refuses_what_it_cannot_lay_out():
    with pytest.raises(LayoutError, match="no fixed size"):
        layout_of(cs.Struct("n" / cs.Int8ul, "s" / cs.CString("ascii")))
    with pytest.raises(LayoutError, match="cannot get a field layout"):
        layout_of(42)
    assert layout_of([("a", 0, 4)]) == [FieldLayout("a", 0, 4)]
    assert issubclass(LayoutError, DriverkitError)


def test_compare_a_driverkit_register_map(firmware: ElfImage):
    """A RegisterMap over the mailbox, checked against the C header the firmware was built from."""
    from construct import Int16ul, Int32sl, Int32ul, Int64ul

    from driverkit.regs import RO, RW, Register, RegisterArray, RegisterMap

    class MailboxRegs(RegisterMap):
        magic = Register(0x00, Int32ul, RO)
        version = Register(0x04, Int16ul, RO)
        doorbell = Register(0x08, Int32ul, RW)
        done = Register(0x0C, Int32ul, RO)
        cmd = Register(0x10, Int32ul, RW)
        status = Register(0x14, Int32sl, RO)
        arg = RegisterArray(Register(0x18, Int32ul, RW), 4)
        ret = RegisterArray(Register(0x28, Int32ul, RO), 3, stride=8)      # wrong stride
        served = Register(0x48, Int64ul, RO)                                # wrong offset

    mb = firmware.struct("mailbox")
    got = [(m.field, m.kind, m.expected, m.actual)
           for m in compare_struct(MailboxRegs, mb, only_declared=True)]
    assert got == [("ret[1]", "offset", 0x2C, 0x30), ("ret[2]", "offset", 0x30, 0x38),
                   ("served", "offset", 0x40, 0x48)]
    full = {(m.field, m.kind) for m in compare_struct(MailboxRegs, mb)}
    assert {("header_size", "missing"), ("ret[3]", "missing"), ("data", "missing")} <= full
