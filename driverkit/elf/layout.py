"""Field layouts (name, offset, size) of C structs and register maps, and their comparison.

Both sides of a comparison are reduced to FieldLayouts: a DWARF struct keeps the offsets the
compiler chose; a construct Struct is laid out sequentially (unnamed Padding advances the
offset); a driverkit RegisterMap gives its flattened slots ("arg[2]", "timers[1].config").
C arrays and nested structs are expanded to those paths when the Python side uses them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import construct

from ..errors import LayoutError


@dataclass(frozen=True)
class FieldLayout:
    """One field: byte offset from the start of the struct, size in bytes.

    For a C array, `count` is its element count; for a struct (or an array of structs),
    `children` are the members of one element, offsets relative to the element.
    """

    name: str
    offset: int
    size: int
    count: int = 1
    children: tuple["FieldLayout", ...] = ()


@dataclass(frozen=True)
class LayoutMismatch:
    """One difference; kind is "offset", "size", "missing" (only in the C struct) or "extra"."""

    field: str
    kind: str
    expected: int | None   # from the C struct (DWARF)
    actual: int | None     # from the Python side

    def __str__(self) -> str:
        if self.kind == "missing":
            return f"{self.field}: in the C struct (offset {self.expected:#x}) but not in the Python layout"
        if self.kind == "extra":
            return f"{self.field}: in the Python layout (offset {self.actual:#x}) but not in the C struct"
        return f"{self.field}: {self.kind} differs: C has {self.expected:#x}, Python has {self.actual:#x}"


def _sizeof(sc: Any, name: str) -> int:
    try:
        return int(sc.sizeof())
    except construct.SizeofError as exc:
        raise LayoutError(f"field {name!r} has no fixed size ({exc}); cannot lay it out") from None


def _struct_fields(st: construct.Struct) -> list[FieldLayout]:
    out: list[FieldLayout] = []
    offset = 0
    for sc in st.subcons:
        size = _sizeof(sc, sc.name or "<padding>")
        if sc.name:
            out.append(FieldLayout(sc.name, offset, size))
        offset += size
    return out


def _unwrap_struct(obj: Any) -> construct.Struct | None:
    while isinstance(obj, construct.Subconstruct) and not isinstance(obj, construct.Struct):
        obj = obj.subcon
    return obj if isinstance(obj, construct.Struct) else None


def _register_fields(obj: Any) -> list[FieldLayout] | None:
    """A driverkit RegisterMap (its flattened `layout()` slots), or a duck-typed class whose
    attributes have an int `.offset` and a construct subcon (or an int `.size`/`.width`)."""
    cls = obj if isinstance(obj, type) else type(obj)
    layout = getattr(cls, "layout", None)
    if callable(layout):
        try:
            slots = list(layout())
        except TypeError:
            slots = []
        if slots and all(hasattr(s, "path") and hasattr(s, "reg") for s in slots):
            return [FieldLayout(s.path, s.offset, s.reg.width) for s in slots]
    out: dict[str, FieldLayout] = {}
    for klass in reversed(cls.__mro__):
        for name, reg in vars(klass).items():
            offset = getattr(reg, "offset", None)
            if not isinstance(offset, int) or name.startswith("__"):
                continue
            size = getattr(reg, "size", None)
            if not isinstance(size, int):
                size = getattr(reg, "width", None)
            if not isinstance(size, int):
                for attr in ("subcon", "fmt", "format", "type", "struct"):
                    sc = getattr(reg, attr, None)
                    if isinstance(sc, construct.Construct):
                        size = _sizeof(sc, name)
                        break
            if isinstance(size, int):
                out[name] = FieldLayout(name, offset, size)
    return list(out.values()) or None


def layout_of(obj: Any) -> list[FieldLayout]:
    """FieldLayouts of a DwarfStruct, construct Struct, register map, mapping or (name, off, size) list."""
    fields = getattr(obj, "fields", None)
    if isinstance(fields, list) and all(isinstance(f, FieldLayout) for f in fields):
        return list(fields)
    st = _unwrap_struct(obj)
    if st is not None:
        return _struct_fields(st)
    if isinstance(obj, Mapping):
        out = []
        for name, v in obj.items():
            if isinstance(v, tuple) and len(v) == 2:
                out.append(FieldLayout(str(name), int(v[0]), int(v[1])))
            elif isinstance(v, FieldLayout):
                out.append(v)
            else:
                raise LayoutError(f"field {name!r}: expected (offset, size), got {v!r}")
        return out
    regs = _register_fields(obj)
    if regs is not None:
        return regs
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        out = []
        for item in obj:
            if isinstance(item, FieldLayout):
                out.append(item)
            else:
                name, offset, size = item
                out.append(FieldLayout(str(name), int(offset), int(size)))
        return out
    raise LayoutError(f"cannot get a field layout from {type(obj).__name__}")


def _expand(fields: list[FieldLayout], wanted: set[str], prefix: str = "",
            base: int = 0) -> list[FieldLayout]:
    """C fields with arrays/structs opened up where the Python side names their elements."""
    out: list[FieldLayout] = []
    for f in fields:
        name, off = prefix + f.name, base + f.offset
        if name in wanted:
            out.append(FieldLayout(name, off, f.size, f.count, f.children))
        elif f.count > 1 and any(w.startswith(name + "[") for w in wanted):
            step = f.size // f.count
            elems = [FieldLayout(f"{f.name}[{i}]", f.offset + i * step, step, 1, f.children)
                     for i in range(f.count)]
            out += _expand(elems, wanted, prefix, base)
        elif f.children and any(w.startswith(name + ".") for w in wanted):
            out += _expand(list(f.children), wanted, name + ".", off)
        else:
            out.append(FieldLayout(name, off, f.size, f.count, f.children))
    return out


def compare_struct(python_side: Any, c_side: Any, *, only_declared: bool = False) -> list[LayoutMismatch]:
    """Field-by-field differences between a Python layout and the C (DWARF) struct; [] if they agree.

    Fields are matched by name (RegisterMap paths like "arg[1]" or "hdr.len" reach into C arrays
    and nested structs); names starting with "_" (reserved, padding) are ignored on both sides.
    only_declared=True skips C fields the Python side does not declare (a partial register map).
    """
    ours = {f.name: f for f in layout_of(python_side) if not f.name.startswith("_")}
    c_fields = _expand(layout_of(c_side), set(ours))
    theirs = {f.name: f for f in c_fields if not f.name.split(".")[-1].startswith("_")}
    out: list[LayoutMismatch] = []
    for name, c in sorted(theirs.items(), key=lambda kv: kv[1].offset):
        py = ours.get(name)
        if py is None:
            if not only_declared:
                out.append(LayoutMismatch(name, "missing", c.offset, None))
            continue
        if py.offset != c.offset:
            out.append(LayoutMismatch(name, "offset", c.offset, py.offset))
        if py.size != c.size:
            out.append(LayoutMismatch(name, "size", c.size, py.size))
    for name, py in sorted(ours.items(), key=lambda kv: kv[1].offset):
        if name not in theirs:
            out.append(LayoutMismatch(name, "extra", None, py.offset))
    return out
