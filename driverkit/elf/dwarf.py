"""C struct layouts from DWARF (a `-g` build), turned into construct Structs.

The struct keeps the compiler's offsets, so `sizeof()` equals the C `sizeof` and parse/build
work on raw guest memory. Holes become `_padOFF` byte fields and unnamed bits `_rsvdN` fields,
both defaulting to zero: a parse-modify-build keeps whatever the memory held there, and a
build from a plain dict need not mention them. Consecutive bitfields in one storage unit
become one `ByteSwapped(BitStruct(...))` (little-endian) named after its fields joined by "_".
"""

from __future__ import annotations

import difflib
from typing import Any

import construct as cs

from ..errors import ElfError
from .layout import FieldLayout

_QUALIFIERS = ("DW_TAG_typedef", "DW_TAG_volatile_type", "DW_TAG_const_type",
               "DW_TAG_restrict_type", "DW_TAG_atomic_type")
_ATE_SIGNED = (0x05, 0x06, 0x0D)      # signed, signed_char, signed_fixed
_ATE_FLOAT = 0x04
_ATE_BOOLEAN = 0x02


class DwarfStruct(cs.Struct):
    """A construct Struct built from DWARF; `.fields` are the C member offsets and sizes."""

    def __init__(self, *subcons: cs.Construct, c_name: str, byte_size: int,
                 fields: list[FieldLayout]) -> None:
        super().__init__(*subcons)
        self.c_name = c_name
        self.byte_size = byte_size
        self.fields = fields

    def __repr__(self) -> str:
        return f"<DwarfStruct struct {self.c_name} ({self.byte_size} bytes, {len(self.fields)} fields)>"


def _name(die: Any) -> str | None:
    attr = die.attributes.get("DW_AT_name")
    return attr.value.decode(errors="replace") if attr else None


def _int_attr(die: Any, name: str) -> int | None:
    attr = die.attributes.get(name)
    return None if attr is None else int(attr.value)


def _member_offset(die: Any) -> int:
    attr = die.attributes.get("DW_AT_data_member_location")
    if attr is None:
        return 0
    if isinstance(attr.value, int):
        return attr.value
    expr = list(attr.value)  # DWARF 2 style: DW_OP_plus_uconst ULEB128
    if expr and expr[0] == 0x23:
        value, shift = 0, 0
        for b in expr[1:]:
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return value
    raise ElfError(f"member {_name(die)!r}: unsupported DW_AT_data_member_location {expr!r}")


def _int_type(size: int, signed: bool, little: bool) -> cs.Construct:
    table = {1: (cs.Int8ul, cs.Int8sl, cs.Int8ub, cs.Int8sb),
             2: (cs.Int16ul, cs.Int16sl, cs.Int16ub, cs.Int16sb),
             4: (cs.Int32ul, cs.Int32sl, cs.Int32ub, cs.Int32sb),
             8: (cs.Int64ul, cs.Int64sl, cs.Int64ub, cs.Int64sb)}
    if size not in table:
        return cs.Bytes(size)
    u_l, s_l, u_b, s_b = table[size]
    return (s_l if signed else u_l) if little else (s_b if signed else u_b)


def _hole(offset: int, n: int) -> cs.Construct:
    """Bytes the compiler left unused: named (kept on parse-modify-build), zero by default."""
    return f"_pad{offset:#x}" / cs.Default(cs.Bytes(n), bytes(n))


class _Builder:
    def __init__(self, cu: Any, little: bool) -> None:
        self.cu = cu
        self.little = little
        self.ptr_size = cu["address_size"]

    def strip(self, die: Any) -> Any:
        while die is not None and die.tag in _QUALIFIERS:
            die = die.get_DIE_from_attribute("DW_AT_type") if "DW_AT_type" in die.attributes else None
        return die

    def type_of(self, die: Any) -> Any:
        return self.strip(die.get_DIE_from_attribute("DW_AT_type")) if "DW_AT_type" in die.attributes else None

    def size_of(self, t: Any) -> int:
        if t is None:
            return 0
        size = _int_attr(t, "DW_AT_byte_size")
        if size is not None:
            return size
        if t.tag == "DW_TAG_pointer_type":
            return self.ptr_size
        if t.tag == "DW_TAG_array_type":
            return self.array_count(t) * self.size_of(self.type_of(t))
        raise ElfError(f"DWARF type {t.tag} {_name(t)!r} has no size")

    def array_count(self, t: Any) -> int:
        count = 1
        for sub in t.iter_children():
            if sub.tag != "DW_TAG_subrange_type":
                continue
            n = _int_attr(sub, "DW_AT_count")
            if n is None:
                upper = _int_attr(sub, "DW_AT_upper_bound")
                n = 0 if upper is None else upper + 1 - (_int_attr(sub, "DW_AT_lower_bound") or 0)
            count *= n
        return count

    def construct_for(self, t: Any, where: str) -> cs.Construct:
        if t is None:
            raise ElfError(f"{where}: void has no layout")
        tag = t.tag
        if tag == "DW_TAG_base_type":
            size = self.size_of(t)
            enc = _int_attr(t, "DW_AT_encoding")
            if enc == _ATE_FLOAT and size in (4, 8):
                return (cs.Float32l if size == 4 else cs.Float64l) if self.little else \
                    (cs.Float32b if size == 4 else cs.Float64b)
            if enc == _ATE_BOOLEAN and size == 1:
                return cs.Flag
            return _int_type(size, enc in _ATE_SIGNED, self.little)
        if tag == "DW_TAG_pointer_type":
            return _int_type(self.ptr_size, False, self.little)
        if tag == "DW_TAG_enumeration_type":
            base = self.type_of(t)
            signed = base is not None and _int_attr(base, "DW_AT_encoding") in _ATE_SIGNED
            values = {_name(e): int(e.attributes["DW_AT_const_value"].value)
                      for e in t.iter_children() if e.tag == "DW_TAG_enumerator"}
            return cs.Enum(_int_type(self.size_of(t), signed, self.little), **values)
        if tag == "DW_TAG_array_type":
            elem = self.type_of(t)
            n = self.array_count(t)
            esize = self.size_of(elem)
            if esize == 1 and elem.tag == "DW_TAG_base_type":
                return cs.Bytes(n)
            return cs.Array(n, self.construct_for(elem, where + "[]"))
        if tag == "DW_TAG_structure_type":
            return self.struct(t)
        if tag == "DW_TAG_union_type":
            members = [_name(m) / self.construct_for(self.type_of(m), f"{where}.{_name(m)}")
                       for m in t.iter_children() if m.tag == "DW_TAG_member" and _name(m)]
            return cs.Padded(self.size_of(t), cs.Union(0, *members))
        raise ElfError(f"{where}: DWARF type {tag} is not supported")

    def struct(self, die: Any) -> DwarfStruct:
        c_name = _name(die) or "<anonymous>"
        byte_size = self.size_of(die)
        subcons: list[cs.Construct] = []
        fields: list[FieldLayout] = []
        offset = 0
        members = [m for m in die.iter_children() if m.tag == "DW_TAG_member"]
        i = 0
        while i < len(members):
            m = members[i]
            t = self.type_of(m)
            if "DW_AT_bit_size" in m.attributes:
                if not self.little:
                    raise ElfError(f"struct {c_name}: bitfields on big-endian targets are not supported")
                group = self._bit_group(members, i)
                i += len(group)
                lo = min(g[1] for g in group) // 8                    # byte span of the group
                hi = -(-max(g[1] + g[2] for g in group) // 8)
                if lo < offset:
                    raise ElfError(f"struct {c_name}: bitfield {group[0][0]} at byte {lo:#x} "
                                   f"overlaps the previous member (ends at {offset:#x})")
                if lo > offset:
                    subcons.append(_hole(offset, lo - offset))
                bits = []
                pos = hi * 8
                for name, absbit, width in sorted(group, key=lambda g: -g[1]):   # MSB first
                    top = absbit + width
                    if top < pos:
                        bits.append(f"_rsvd{top - lo * 8}" / cs.Default(cs.BitsInteger(pos - top), 0))
                    bits.append(name / cs.BitsInteger(width))
                    pos = absbit
                    fields.append(FieldLayout(name, lo, hi - lo))
                if pos > lo * 8:
                    bits.append("_rsvd0" / cs.Default(cs.BitsInteger(pos - lo * 8), 0))
                bs: cs.Construct = cs.BitStruct(*bits)
                if self.little and hi - lo > 1:
                    bs = cs.ByteSwapped(bs)
                subcons.append("_".join(g[0] for g in group) / bs)
                offset = hi
                continue
            name = _name(m) or f"_anon{i}"
            moff = _member_offset(m)
            if moff < offset:
                raise ElfError(f"struct {c_name}: member {name} at {moff:#x} overlaps the previous one")
            if moff > offset:
                subcons.append(_hole(offset, moff - offset))
            sc = self.construct_for(t, f"struct {c_name}.{name}")
            size = self.size_of(t)
            subcons.append(name / sc)
            count, elem = 1, t
            if t is not None and t.tag == "DW_TAG_array_type":
                count, elem = self.array_count(t), self.type_of(t)
            children: tuple[FieldLayout, ...] = ()
            if elem is not None and elem.tag == "DW_TAG_structure_type":
                children = tuple(self.struct(elem).fields)
            fields.append(FieldLayout(name, moff, size, count, children))
            offset = moff + size
            i += 1
        if byte_size > offset:
            subcons.append(_hole(offset, byte_size - offset))
        return DwarfStruct(*subcons, c_name=c_name, byte_size=byte_size, fields=fields)

    def _bit_group(self, members: list[Any], i: int) -> list[tuple[str, int, int]]:
        """Consecutive bitfields in one storage unit: [(name, bit offset from struct start, width)].

        Bit offsets count from the least significant bit on little-endian targets (DWARF 4+
        DW_AT_data_bit_offset); DWARF 2/3 DW_AT_bit_offset counts from the unit's MSB instead.
        Note C packs bitfields into a unit that earlier members already use: after `uint8_t a;`
        a `uint32_t b:1` sits at bit 8, inside the same 4 bytes.
        """
        group: list[tuple[str, int, int]] = []
        unit_index = None
        for m in members[i:]:
            if "DW_AT_bit_size" not in m.attributes:
                break
            unit = _int_attr(m, "DW_AT_byte_size") or self.size_of(self.type_of(m))
            width = _int_attr(m, "DW_AT_bit_size") or 0
            if "DW_AT_data_bit_offset" in m.attributes:
                absbit = _int_attr(m, "DW_AT_data_bit_offset") or 0
            else:
                absbit = (_member_offset(m) * 8 + unit * 8
                          - (_int_attr(m, "DW_AT_bit_offset") or 0) - width)
            index = (unit, absbit // (unit * 8))
            if unit_index is None:
                unit_index = index
            elif index != unit_index:
                break
            group.append((_name(m) or f"_anon{len(group)}", absbit, width))
        return group


def find_struct(dwarf: Any, name: str, little: bool, source: str) -> DwarfStruct:
    """The complete `struct name` (or a typedef of a struct) from the first CU that defines it."""
    name = name.removeprefix("struct ").strip()
    seen: list[str] = []
    typedef_hit = None
    for cu in dwarf.iter_CUs():
        for die in cu.iter_DIEs():
            if die.tag == "DW_TAG_typedef" and typedef_hit is None and _name(die) == name:
                b = _Builder(cu, little)
                target = b.strip(die)
                if target is not None and target.tag == "DW_TAG_structure_type" \
                        and "DW_AT_declaration" not in target.attributes:
                    typedef_hit = (b, target)
                continue
            if die.tag != "DW_TAG_structure_type" or "DW_AT_declaration" in die.attributes:
                continue
            n = _name(die)
            if n == name:
                return _Builder(cu, little).struct(die)
            if n:
                seen.append(n)
    if typedef_hit is not None:
        builder, target = typedef_hit
        st = builder.struct(target)
        if st.c_name == "<anonymous>":
            st.c_name = name
        return st
    close = difflib.get_close_matches(name, sorted(set(seen)), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ElfError(f"{source}: no DWARF definition of struct {name!r}{hint}")
