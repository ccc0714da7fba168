"""What a construct subcon looks like as a register: width, byte order, fields and their bits.

Computed once per subcon (cached) by building the struct with one field bit set
at a time, so register accesses later work on plain ints with precomputed masks
instead of parsing (~10 us) on every access.

Bit positions are in the register's *logical* value: the integer read from
memory in the register's byte order (little-endian unless the subcon says
otherwise: `Int32ub`, or a `BitStruct` not wrapped in `ByteSwapped`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import construct as cs

from ..errors import LayoutError, RegisterError, ValueRangeError

WIDTHS = (1, 2, 4, 8)

_RESERVED_HINT = (
    "Padding always builds zeros, so a read-modify-write would wipe the reserved bits; "
    'name them instead, e.g. "_rsvd" / BitsInteger(n)'
)


@dataclass(frozen=True)
class Field:
    """One named field of a register: bits [shift, shift+bits) of the logical value."""

    name: str
    shift: int
    bits: int
    mask: int
    kind: str  # "int" | "flag" | "adapter" (Enum, FlagsEnum, ...)
    subcon: cs.Construct
    signed: bool = False

    @property
    def reserved(self) -> bool:
        """Names starting with "_" are reserved: preserved by modify(), hidden from dumps."""
        return self.name.startswith("_")

    def decode(self, raw_bits: int) -> Any:
        """Field bits -> the value construct would parse."""
        if self.kind == "flag":
            return bool(raw_bits)
        if self.signed and raw_bits >> (self.bits - 1):
            raw_bits -= 1 << self.bits
        if self.kind == "adapter":
            return self.subcon._decode(raw_bits, cs.Container(), "(regs)")
        return raw_bits

    def encode(self, value: Any) -> int:
        """A field value (int, bool, enum name, flags dict) -> its bits; refuses misfits."""
        if self.kind == "adapter" and not isinstance(value, bool):
            try:
                value = self.subcon._encode(value, cs.Container(), "(regs)")
            except Exception as exc:
                raise RegisterError(
                    f"field {self.name!r}: cannot encode {value!r}: {exc}"
                ) from None
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int):
            raise RegisterError(f"field {self.name!r}: value {value!r} is not an int")
        lo, hi = (
            (-(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1)
            if self.signed
            else (
                0,
                (1 << self.bits) - 1,
            )
        )
        if not lo <= value <= hi:
            raise ValueRangeError(
                f"field {self.name!r}: value {value:#x} does not fit in {self.bits} bits"
                f" (range {lo:#x}..{hi:#x})"
            )
        return value & ((1 << self.bits) - 1)


@dataclass(frozen=True)
class Shape:
    """A subcon seen as a register."""

    subcon: cs.Construct
    width: int  # bytes
    byteorder: str  # "little" | "big"
    fields: tuple[Field, ...]  # empty for a plain value register
    kind: str  # "int" (plain integer) | "struct" (fields) | "value" (parsed by construct)
    signed: bool = False

    @property
    def bits(self) -> int:
        return self.width * 8

    @property
    def full(self) -> int:
        return (1 << self.bits) - 1

    @functools.cached_property
    def _names(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    def field(self, name: str) -> Field:
        f = self._names.get(name)
        if f is not None:
            return f
        names = ", ".join(f.name for f in self.fields) or "none (not a bitfield register)"
        raise RegisterError(f"no field {name!r}; fields: {names}")

    @property
    def reserved_mask(self) -> int:
        return sum(f.mask for f in self.fields if f.reserved)

    # --- logical value <-> parsed value ---------------------------------------------------

    def decode(self, logical: int) -> Any:
        """Logical int -> what construct would parse (int, Container, enum string ...)."""
        if self.kind == "int":
            if self.signed and logical >> (self.bits - 1):
                return logical - (1 << self.bits)
            return logical
        if self.kind == "struct":
            return cs.Container(
                (f.name, f.decode((logical >> f.shift) & ((1 << f.bits) - 1))) for f in self.fields
            )
        return self.subcon.parse(logical.to_bytes(self.width, self.byteorder))

    def encode_fields(self, values: dict[str, Any], base: int = 0) -> int:
        """Put field values into `base` (a logical int), leaving other bits alone."""
        for name, value in values.items():
            if name.startswith("_") and name not in self._names:
                continue  # construct's own keys in a parsed Container (_io, _params ...)
            f = self.field(name)
            base = (base & ~f.mask) | (f.encode(value) << f.shift)
        return base

    def encode(self, value: Any) -> int:
        """A whole-register value (int, or fields as a mapping) -> logical int."""
        if self.kind == "struct" and isinstance(value, dict):
            return self.encode_fields(value)
        if isinstance(value, bool) or not isinstance(value, int):
            if self.kind == "value":
                try:
                    data = self.subcon.build(value)
                except Exception as exc:
                    raise RegisterError(f"cannot build {value!r}: {exc}") from None
                return int.from_bytes(data, self.byteorder)
            raise RegisterError(
                f"register value {value!r} must be an int"
                + (" or a mapping of fields" if self.kind == "struct" else "")
            )
        if self.signed and value < 0 and value >= -(1 << (self.bits - 1)):
            value &= self.full
        if not 0 <= value <= self.full:
            raise ValueRangeError(f"value {value:#x} does not fit in a {self.bits}-bit register")
        return value


_cache: dict[int, tuple[cs.Construct, Shape]] = {}


def shape_of(subcon: cs.Construct, byteorder: str | None = None) -> Shape:
    """Analyse `subcon` (cached per object and byte order); LayoutError if not a register."""
    key = hash((id(subcon), byteorder))
    hit = _cache.get(key)
    if hit is not None and hit[0] is subcon:
        return hit[1]
    shape = _analyse(subcon, byteorder)
    _cache[key] = (subcon, shape)
    return shape


def _sizeof(subcon: cs.Construct, what: str) -> int:
    try:
        return subcon.sizeof()
    except Exception as exc:
        raise LayoutError(f"{what} has no fixed size ({exc})") from None


def _find_struct(subcon: cs.Construct) -> tuple[cs.Struct | None, list[str]]:
    """Unwrap Renamed/ByteSwapped/Bitwise/... down to a Struct; also name the transforms passed."""
    seen: list[str] = []
    node: Any = subcon
    while True:
        if isinstance(node, cs.Struct):
            return node, seen
        if isinstance(node, (cs.Adapter, cs.FormatField, cs.BytesInteger)):
            return None, seen
        if isinstance(node, cs.Transformed):
            seen.append(getattr(node.decodefunc, "__name__", "?"))
        if isinstance(node, cs.Subconstruct):
            node = node.subcon
            continue
        return None, seen


def _analyse(subcon: cs.Construct, byteorder: str | None) -> Shape:
    if not isinstance(subcon, cs.Construct):
        raise LayoutError(f"register type {subcon!r} is not a construct subcon")
    width = _sizeof(subcon, "register type")
    struct, transforms = _find_struct(subcon)
    if struct is not None:
        _check_fields(struct)
    if struct is not None and width not in WIDTHS:
        total = _field_bits_total(struct)
        raise LayoutError(f"fields total {total} bits; a register is 8, 16, 32 or 64 bits wide")
    if width not in WIDTHS:
        raise LayoutError(f"register is {width} bytes wide; it must be 1, 2, 4 or 8 bytes")
    if byteorder not in (None, "little", "big"):
        raise LayoutError(f"byteorder {byteorder!r}: say 'little' or 'big'")

    if struct is None:
        return _analyse_value(subcon, width, byteorder)
    return _analyse_struct(subcon, struct, transforms, width, byteorder)


def _analyse_value(subcon: cs.Construct, width: int, byteorder: str | None) -> Shape:
    node: Any = subcon
    while isinstance(node, cs.Renamed):
        node = node.subcon
    if isinstance(node, cs.FormatField) and node.fmtstr[-1] in "bBhHlLqQ":
        order = {"<": "little", ">": "big", "=": "little"}.get(node.fmtstr[0], "little")
        if width == 1:
            order = "little"
        if byteorder and byteorder != order and width > 1:
            raise LayoutError(f"{node.fmtstr!r} is {order}-endian but byteorder={byteorder!r}")
        return Shape(subcon, width, order, (), "int", signed=node.fmtstr[-1].islower())
    if isinstance(node, cs.BytesInteger) and not callable(node.length):
        order = "little" if node.swapped else "big"
        if width == 1:
            order = "little"
        return Shape(subcon, width, byteorder or order, (), "int", signed=node.signed)
    order = byteorder
    if order is None:
        order = "little"
        try:
            one = subcon.build(1)
            if width > 1 and one[-1] == 1 and one[0] == 0:
                order = "big"
        except Exception:
            pass
    return Shape(subcon, width, order, (), "value")


def _field_subcon(sc: cs.Construct) -> cs.Construct:
    return sc.subcon if isinstance(sc, cs.Renamed) else sc


def _field_bits_total(struct: cs.Struct) -> int:
    total = 0
    for sc in struct.subcons:
        try:
            total += sc.sizeof()
        except Exception:
            pass
    return total


def _field_kind(name: str, sc: cs.Construct) -> tuple[str, bool]:
    inner = _field_subcon(sc)
    if isinstance(inner, type(cs.Flag)):
        return "flag", False
    if isinstance(inner, cs.BitsInteger):
        return "int", inner.signed
    if isinstance(inner, cs.BytesInteger):
        return "int", inner.signed
    if isinstance(inner, cs.FormatField) and inner.fmtstr[-1] in "bBhHlLqQ":
        return "int", inner.fmtstr[-1].islower()
    if isinstance(inner, cs.Adapter):
        return "adapter", False
    raise LayoutError(
        f"field {name!r}: {type(inner).__name__} is not a supported field type "
        "(BitsInteger, Flag, Enum, FlagsEnum, or Int*/BytesInteger in a byte-level Struct)"
    )


def _check_fields(struct: cs.Struct) -> None:
    """Every field named once and of a type whose bits can be placed."""
    names: list[str] = []
    for sc in struct.subcons:
        name = getattr(sc, "name", None)
        if not name:
            kind = type(sc).__name__
            hint = (
                _RESERVED_HINT
                if isinstance(sc, cs.Padded)
                else ("every bit of a register needs a named field")
            )
            raise LayoutError(f"unnamed {kind} in register struct: {hint}")
        if name in names:
            raise LayoutError(f"field {name!r} appears twice")
        names.append(name)
        _field_kind(name, sc)


def _analyse_struct(
    subcon: cs.Construct,
    struct: cs.Struct,
    transforms: list[str],
    width: int,
    byteorder: str | None,
) -> Shape:
    bits = width * 8
    names: list[str] = []
    sizes: list[int] = []
    for sc in struct.subcons:
        name = sc.name
        names.append(name)
        sizes.append(_sizeof(sc, f"field {name!r}"))
    total = sum(sizes)
    if total == bits:
        unit = 1  # bitwise struct: sizeof() counts bits
    elif total == width:
        unit = 8  # byte-level struct
    else:
        raise LayoutError(
            f"fields {', '.join(names)} total {total} bits but the register is {bits} bits"
            f" ({width} bytes): "
            + ("a field overflows the register" if total > bits else "bits are missing")
        )

    kinds = [_field_kind(n, sc) for n, sc in zip(names, struct.subcons)]
    zeros = {n: (False if k == "flag" else 0) for n, (k, _) in zip(names, kinds)}

    def build(name: str, value: int) -> bytes:
        obj = dict(zeros)
        obj[name] = value
        try:
            return subcon.build(obj)
        except Exception as exc:
            raise LayoutError(f"field {name!r}: building the register failed: {exc}") from None

    # Bit i of each field, placed in both byte orders; keep the orders where every field is
    # contiguous and in order (BitsSwapped, for instance, reverses multi-bit fields).
    placements: dict[str, dict[str, list[int]]] = {"little": {}, "big": {}}
    for name, size, (kind, signed) in zip(names, sizes, kinds):
        nbits = size * unit
        if kind == "flag" and nbits != 1:
            raise LayoutError(f"field {name!r}: a Flag must be 1 bit in a bitfield register")
        for pl in placements.values():
            pl[name] = []
        for i in range(nbits):
            v: Any = 1 << i
            if kind == "flag":
                v = True
            elif signed and i == nbits - 1:
                v = -(1 << i)
            data = build(name, v)
            for order, pl in placements.items():
                x = int.from_bytes(data, order)
                pl[name].append(x.bit_length() - 1 if x and not x & (x - 1) else -1)

    def consistent(order: str) -> bool:
        for pos in placements[order].values():
            if pos[0] < 0 or pos != list(range(pos[0], pos[0] + len(pos))):
                return False
        return True

    ok = [o for o in ("little", "big") if consistent(o)]
    if byteorder is not None:
        if byteorder not in ok:
            raise LayoutError(
                f"fields are not contiguous bit ranges of a {byteorder}-endian {bits}-bit value"
                + (f" (they are in {ok[0]}-endian)" if ok else "")
            )
        order = byteorder
    elif not ok:
        bad = [n for n in names if len(placements["little"][n]) > 1]
        raise LayoutError(
            "fields are not contiguous bit ranges in either byte order"
            + (
                " (BitsSwapped reverses multi-bit fields; use ByteSwapped)"
                if "swapbitsinbytes" in transforms
                else ""
            )
            + (f"; multi-bit fields: {', '.join(bad)}" if bad else "")
        )
    elif len(ok) == 1:
        order = ok[0]
    else:  # byte-aligned fields fit both: go by the wrapper, as construct would parse
        order = "little" if "swapbytes" in transforms or width == 1 else "big"

    fields = []
    for name, (kind, signed) in zip(names, kinds):
        pos = placements[order][name]
        fbits = len(pos)
        fields.append(
            Field(
                name,
                pos[0],
                fbits,
                ((1 << fbits) - 1) << pos[0],
                kind,
                _field_subcon(struct.subcons[names.index(name)]),
                signed,
            )
        )
    return Shape(subcon, width, order, tuple(fields), "struct")


Readback = Callable[[int], int]
