"""Symbols of an ELF image: a read-only name -> Symbol mapping that names close matches on a miss."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ..errors import SymbolNotFound

# ELF st_info type/binding as pyelftools spells them -> the short words we show.
_KINDS = {"STT_NOTYPE": "notype", "STT_OBJECT": "object", "STT_FUNC": "func",
          "STT_SECTION": "section", "STT_FILE": "file", "STT_COMMON": "common",
          "STT_TLS": "tls", "STT_GNU_IFUNC": "ifunc"}
_BINDINGS = {"STB_LOCAL": "local", "STB_GLOBAL": "global", "STB_WEAK": "weak",
             "STB_GNU_UNIQUE": "unique"}


@dataclass(frozen=True)
class Symbol:
    """One symbol-table entry; `kind` is func/object/notype/..., `binding` local/global/weak."""

    name: str
    address: int
    size: int
    kind: str
    binding: str
    section: str

    def to_dict(self) -> dict:
        return {"name": self.name, "address": self.address, "size": self.size,
                "kind": self.kind, "binding": self.binding, "section": self.section}


def kind_name(st_type: str) -> str:
    return _KINDS.get(st_type, st_type.lower().removeprefix("stt_"))


def binding_name(st_bind: str) -> str:
    return _BINDINGS.get(st_bind, st_bind.lower().removeprefix("stb_"))


class SymbolTable(Mapping[str, Symbol]):
    """Named symbols; when a name occurs twice (static symbols), the global one wins, else the first."""

    def __init__(self, symbols: list[Symbol], source: str = "ELF") -> None:
        self._all = sorted(symbols, key=lambda s: (s.address, s.name))
        self._source = source
        self._by_name: dict[str, Symbol] = {}
        for sym in symbols:
            old = self._by_name.get(sym.name)
            if old is None or (old.binding == "local" and sym.binding != "local"):
                self._by_name[sym.name] = sym

    def __getitem__(self, name: str) -> Symbol:
        try:
            return self._by_name[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._by_name), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise SymbolNotFound(f"no symbol {name!r} in {self._source}{hint}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def all(self) -> list[Symbol]:
        """Every named symbol, duplicates included, sorted by address."""
        return list(self._all)

    def at(self, address: int) -> Symbol | None:
        """The object or function symbol covering `address`, if any."""
        for sym in self._all:
            if sym.kind in ("object", "func") and sym.address <= address < sym.address + max(sym.size, 1):
                return sym
        return None
