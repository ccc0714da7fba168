"""A neutral description of a register block (what CMSIS-SVD and SystemRDL both say) and the
one builder that turns it into a RegisterMap class, so svd.py and rdl.py only translate.

Fields become a little-endian BitStruct (MSB first, gaps named `_rsvdN` so read-modify-write
keeps them); a register whose fields overlap stays a plain integer (noted). Names that are
not identifiers, or that clash with RegisterMap's own attributes, are adjusted (noted).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field

import construct as cs

from ..errors import LayoutError
from .access import RO, RW, Access
from .block import Block, RegisterArray, RegisterBlock, RegisterMap
from .register import Register

INTS = {1: cs.Int8ul, 2: cs.Int16ul, 4: cs.Int32ul, 8: cs.Int64ul}


@dataclass
class FieldDesc:
    name: str
    lsb: int
    width: int
    access: Access | None = None  # None: the register's
    doc: str = ""


@dataclass
class RegDesc:
    name: str
    offset: int  # bytes from the start of the enclosing block
    size: int  # bytes
    access: Access = RW
    reset: int | None = None
    fields: list[FieldDesc] = field(default_factory=list)
    count: int | None = None  # an array of `count` registers...
    stride: int | None = None  # ...`stride` bytes apart
    side_effects: bool = False
    volatile: bool = False
    widths: tuple[int, ...] | None = None  # legal access widths in bytes
    readback: str | None = None  # "inverse": reads return ~written (edu liveness)
    doc: str = ""


@dataclass
class BlockDesc:
    name: str
    offset: int = 0
    members: list["RegDesc | BlockDesc"] = field(default_factory=list)
    count: int | None = None
    stride: int | None = None
    size: int | None = None
    doc: str = ""
    base_address: int | None = None  # where the block sits on the bus (peripherals)
    source: str = ""
    notes: list[str] = field(default_factory=list)


def identifier(name: str, taken: set[str] | None = None) -> str:
    """A Python attribute name for `name` (non-identifier characters become _)."""
    ident = re.sub(r"\W", "_", name.replace("[%s]", "").replace("%s", ""))
    if not ident or ident[0].isdigit() or keyword.iskeyword(ident):
        ident = "r_" + ident
    if hasattr(RegisterMap, ident) or ident.startswith("_"):
        ident += "_"
    while taken is not None and ident in taken:
        ident += "_"
    return ident


def _subcon(r: RegDesc, notes: list[str], where: str) -> tuple[cs.Construct, dict[str, Access]]:
    bits = 8 * r.size
    fields = sorted((f for f in r.fields if f.width > 0), key=lambda f: f.lsb)
    if not fields:
        return INTS[r.size], {}
    end = 0
    for f in fields:
        if f.lsb < end or f.lsb + f.width > bits:
            notes.append(f"{where}: fields overlap or exceed {bits} bits; kept as a plain "
                         "integer")
            return INTS[r.size], {}
        end = f.lsb + f.width
    parts, overrides, pos, taken = [], {}, 0, set()
    for f in fields:
        if f.lsb > pos:
            parts.append((f"_rsvd{pos}", f.lsb - pos))
        name = identifier(f.name, taken)
        taken.add(name)
        parts.append((name, f.width))
        if f.access is not None and f.access != r.access:
            overrides[name] = f.access
        pos = f.lsb + f.width
    if pos < bits:
        parts.append((f"_rsvd{pos}", bits - pos))
    struct = cs.BitStruct(*[(n / (cs.Flag if w == 1 and not n.startswith("_")
                                  else cs.BitsInteger(w))) for n, w in reversed(parts)])
    return (cs.ByteSwapped(struct) if r.size > 1 else struct), overrides


def _register(r: RegDesc, offset: int, notes: list[str], where: str, alias: bool) -> Register:
    if r.size not in INTS:
        raise LayoutError(f"{where}: a {r.size * 8}-bit register is not supported "
                          "(8, 16, 32, 64 bits)")
    sub, overrides = _subcon(r, notes, where)
    readback = None
    if r.readback == "inverse":
        full = (1 << (8 * r.size)) - 1
        readback = lambda written: ~written & full  # noqa: E731
    elif r.readback is not None:
        raise LayoutError(f"{where}: readback {r.readback!r} is not one driverkit knows "
                          "('inverse')")
    return Register(offset, sub, r.access, reset=r.reset, fields=overrides or None,
                    side_effects=r.side_effects, volatile=r.volatile, widths=r.widths,
                    readback=readback, alias=alias, doc=r.doc)


def build_block(desc: BlockDesc, base_cls: type[RegisterBlock] = RegisterBlock,
                notes: list[str] | None = None, where: str = "") -> type[RegisterBlock]:
    """The RegisterBlock (or RegisterMap) subclass `desc` describes."""
    notes = desc.notes if notes is None else notes
    where = where or desc.name
    attrs: dict[str, object] = {"__doc__": desc.doc or f"{desc.name} ({desc.source})"}
    taken: set[str] = set()
    occupied: list[tuple[int, int]] = []
    for m in sorted(desc.members, key=lambda m: m.offset):
        name = identifier(m.name, taken)
        taken.add(name)
        path = f"{where}.{m.name}"
        if name != m.name.replace("[%s]", ""):
            notes.append(f"{path} is attribute {name!r}")
        if isinstance(m, BlockDesc):
            sub = build_block(m, RegisterBlock, notes, path)
            attrs[name] = Block(sub, m.offset, m.count, m.stride)
            continue
        span = (m.offset, m.offset + m.size * (m.count or 1))
        alias = any(a < span[1] and span[0] < b for a, b in occupied)
        if alias:
            notes.append(f"{path} shares its address with another register (alias)")
        occupied.append(span)
        reg = _register(m, m.offset, notes, path, alias)
        attrs[name] = RegisterArray(reg, m.count, m.stride) if m.count else reg
    if desc.size:
        attrs["size"] = desc.size
    cls = type(identifier(desc.name) or "Block", (base_cls,), attrs)
    return cls


def build_map(desc: BlockDesc) -> type[RegisterMap]:
    """A RegisterMap class for a described peripheral; `.base_address`, `.notes`, `.source` tell
    where it sits, what was adjusted, and where it came from."""
    cls = build_block(desc, RegisterMap)
    cls.base_address = desc.base_address  # type: ignore[attr-defined]
    cls.notes = list(desc.notes)  # type: ignore[attr-defined]
    cls.source = desc.source  # type: ignore[attr-defined]
    return cls  # type: ignore[return-value]


def access_from(read: bool, write: bool) -> Access:
    from .access import WO

    if read and write:
        return RW
    return RO if read else WO
