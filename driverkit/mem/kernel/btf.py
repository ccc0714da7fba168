"""Struct sizes from a kernel's .BTF section (the type information Debian kernels carry).

The model needs a few `sizeof()` of the build it predicts (pg_data_t for NODE_DATA, struct
page for the vmemmap); BTF has them for every struct without debug symbols. Format:
Documentation/bpf/btf.rst (header, then `struct btf_type` records, then a string table).
"""

from __future__ import annotations

import struct

BTF_MAGIC = 0xEB9F
_STRUCT = 4
_DATASEC = 15
#: bytes that follow a btf_type record: fixed per kind, plus per-member (vlen) bytes
_FIXED = {1: 4, 3: 12, 14: 4, 17: 4}
_PER_MEMBER = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}


class BtfError(ValueError):
    """The section is not BTF or is cut short (the caller turns it into a KernelImageError)."""


def struct_sizes(data: bytes, names: set[str], datasecs: set[str] = frozenset()) -> dict[str, int]:
    """sizeof(struct NAME) for each name in `names` that the BTF blob defines, and the size
    of each DATASEC (a section such as .data..percpu) named in `datasecs`."""
    if len(data) < 24:
        raise BtfError(f"{len(data)} bytes, shorter than a BTF header")
    magic, _ver, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
        "<HBBIIIII", data, 0
    )
    if magic != BTF_MAGIC:
        raise BtfError(f"magic {magic:#x}, expected {BTF_MAGIC:#x}")
    types = hdr_len + type_off
    strings = hdr_len + str_off
    if types + type_len > len(data) or strings + str_len > len(data):
        raise BtfError(f"type/string tables end beyond the section ({len(data)} bytes)")
    wanted = {n.encode(): n for n in names}
    sections = {n.encode(): n for n in datasecs}
    out: dict[str, int] = {}
    pos, end = types, types + type_len
    while pos + 12 <= end:
        name_off, info, size = struct.unpack_from("<III", data, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        pos += 12 + _FIXED.get(kind, 0) + _PER_MEMBER.get(kind, 0) * vlen
        if kind not in (_STRUCT, _DATASEC) or not name_off:
            continue
        s = strings + name_off
        name = data[s : data.index(b"\0", s)]
        table = wanted if kind == _STRUCT else sections
        if name in table and table[name] not in out:
            out[table[name]] = size
    return out
