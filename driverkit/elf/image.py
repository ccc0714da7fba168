"""ElfImage: an ELF file's symbols, sections and loadable segments, and loading it into a guest."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from elftools.common.exceptions import ELFError as _PyElfError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from ..errors import ElfError
from ..files import read_bounded
from .dwarf import DwarfStruct, find_struct
from .symbols import Symbol, SymbolTable, binding_name, kind_name
from .validate import check_elf_bytes

_CHUNK = 1 << 20   # bytes per write_phys call, so a large .bss is not one huge buffer


class PhysWriter(Protocol):
    """Anything that can write guest-physical memory (a Machine, a transport adapter)."""

    def write_phys(self, addr: int, data: bytes) -> None: ...


@dataclass(frozen=True)
class Segment:
    """A PT_LOAD program header: `filesz` bytes from the file at `paddr`, zeros up to `memsz`."""

    index: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    flags: str        # "RWX" subset
    offset: int

    def to_dict(self) -> dict:
        return {"index": self.index, "vaddr": self.vaddr, "paddr": self.paddr, "filesz": self.filesz,
                "memsz": self.memsz, "flags": self.flags, "offset": self.offset}


@dataclass(frozen=True)
class Section:
    name: str
    type: str
    address: int
    size: int
    offset: int
    flags: str        # "WAX" subset, as readelf shows them

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "address": self.address, "size": self.size,
                "offset": self.offset, "flags": self.flags}


def _pflags(p_flags: int) -> str:
    return "".join(c for c, bit in (("R", 4), ("W", 2), ("X", 1)) if p_flags & bit)


def _sflags(sh_flags: int) -> str:
    return "".join(c for c, bit in (("W", 1), ("A", 2), ("X", 4)) if sh_flags & bit)


MAX_ELF = 1 << 30  # a vmlinux with full DWARF is a few hundred MiB


class ElfImage:
    """A parsed ELF file. Open with ElfImage.open(path); load with .load(writer)."""

    def __init__(self, data: bytes, path: str = "<bytes>") -> None:
        check_elf_bytes(data, path)
        self.path = path
        self._data = data
        try:
            self._elf = ELFFile(io.BytesIO(data))
            self.machine: str = self._elf["e_machine"]
            self.elfclass: int = self._elf.elfclass
            self.little_endian: bool = self._elf.little_endian
            self.entry: int = self._elf["e_entry"]
            self.segments: list[Segment] = self._read_segments()
            self.sections: list[Section] = self._read_sections()
            self.symbols: SymbolTable = self._read_symbols()
        except (_PyElfError, ValueError, KeyError, IndexError, OSError) as exc:
            raise ElfError(f"{path}: corrupt ELF: {exc}") from exc
        except Exception as exc:  # construct/struct parse errors deep inside pyelftools
            raise ElfError(f"{path}: corrupt ELF: {type(exc).__name__}: {exc}") from exc
        self._structs: dict[str, DwarfStruct] = {}

    @classmethod
    def open(cls, path: str | Path) -> "ElfImage":
        """Read and check an ELF file; ElfError says why if it is missing, corrupt or truncated."""
        p = Path(path)
        data = read_bounded(p, MAX_ELF, "ELF", ElfError, regular=True)
        return cls(data, str(p))

    def _read_segments(self) -> list[Segment]:
        out = []
        for i, seg in enumerate(self._elf.iter_segments()):
            if seg["p_type"] != "PT_LOAD":
                continue
            out.append(Segment(i, seg["p_vaddr"], seg["p_paddr"], seg["p_filesz"], seg["p_memsz"],
                               _pflags(seg["p_flags"]), seg["p_offset"]))
        return out

    def _read_sections(self) -> list[Section]:
        return [Section(s.name, s["sh_type"], s["sh_addr"], s["sh_size"], s["sh_offset"],
                        _sflags(s["sh_flags"]))
                for s in self._elf.iter_sections() if s.name]

    def _read_symbols(self) -> SymbolTable:
        syms: list[Symbol] = []
        sections = {i: s.name for i, s in enumerate(self._elf.iter_sections())}
        for sec in self._elf.iter_sections():
            if not isinstance(sec, SymbolTableSection) or sec.name != ".symtab":
                continue
            for sym in sec.iter_symbols():
                if not sym.name:
                    continue
                shndx = sym["st_shndx"]
                secname = sections.get(shndx, "") if isinstance(shndx, int) else str(shndx)
                syms.append(Symbol(sym.name, sym["st_value"], sym["st_size"],
                                   kind_name(sym["st_info"]["type"]),
                                   binding_name(sym["st_info"]["bind"]), secname))
        return SymbolTable(syms, self.path)

    def segment_bytes(self, seg: Segment) -> bytes:
        """The file-backed part of a segment (len == filesz)."""
        return self._data[seg.offset: seg.offset + seg.filesz]

    def load(self, writer: PhysWriter) -> "ElfImage":
        """Write every PT_LOAD segment at its physical address and zero its .bss tail; returns self."""
        if not self.segments:
            raise ElfError(f"{self.path}: nothing to load: no PT_LOAD segments "
                           f"({self._elf['e_type']}; link it into an executable first)")
        for seg in self.segments:
            data = self.segment_bytes(seg)
            for off in range(0, len(data), _CHUNK):
                writer.write_phys(seg.paddr + off, data[off: off + _CHUNK])
            zero_start = seg.paddr + seg.filesz
            remaining = seg.memsz - seg.filesz
            while remaining > 0:
                n = min(remaining, _CHUNK)
                writer.write_phys(zero_start, bytes(n))
                zero_start += n
                remaining -= n
        return self

    @property
    def has_dwarf(self) -> bool:
        return self._elf.has_dwarf_info() and self._elf.get_section_by_name(".debug_info") is not None

    def struct(self, name: str) -> DwarfStruct:
        """`struct name` from DWARF as a construct Struct (the ELF must be built with -g)."""
        if name in self._structs:
            return self._structs[name]
        if not self.has_dwarf:
            raise ElfError(f"{self.path}: no DWARF debug info (build with -g) to read struct {name!r}")
        try:
            st = find_struct(self._elf.get_dwarf_info(), name, self.little_endian, self.path)
        except ElfError:
            raise
        except Exception as exc:
            raise ElfError(f"{self.path}: corrupt DWARF reading struct {name!r}: {exc}") from exc
        self._structs[name] = st
        return st

    def to_dict(self) -> dict:
        return {"path": self.path, "machine": self.machine, "class": self.elfclass, "entry": self.entry,
                "segments": [s.to_dict() for s in self.segments],
                "sections": [s.to_dict() for s in self.sections],
                "symbols": [s.to_dict() for s in self.symbols.all()]}

    def __repr__(self) -> str:
        return (f"<ElfImage {self.path} {self.machine} entry={self.entry:#x} "
                f"{len(self.segments)} PT_LOAD, {len(self.symbols)} symbols>")
