"""CMSIS-SVD -> RegisterMap: `from_svd(path, "USART2")`, parsed with the cmsis-svd package.

cmsis-svd (maintained by the cmsis-svd project, pure Python over lxml) resolves what vendor
files lean on: derivedFrom peripherals (USART2 from USART6), inherited register properties
(size, access, resetValue), dim arrays (PIN_CNF[%s]) and clusters, which it flattens with
absolute offsets; this module rebuilds the arrays and clusters from that. Known vendor errors
are patched first with a small svdtools-style YAML (see svdpatch.py).

Access: read-only RO, write-only / writeOnce WO, read-write RW; modifiedWriteValues oneToClear
W1C, oneToSet W1S; readAction clear RC (anything with a readAction has side effects).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from ..errors import DescriptionError, UnknownPeripheral
from ..files import read_bounded
from .access import RC, RO, RW, W1C, W1S, WO, Access
from .block import RegisterMap
from .describe import BlockDesc, FieldDesc, RegDesc, build_map

MAX_SVD = 64 << 20  # the largest vendor files are ~30 MiB


def _access(node: Any, inherited: Access | None = None) -> Access | None:
    acc = getattr(node, "access", None)
    mwv = getattr(node, "modified_write_values", None)
    ra = getattr(node, "read_action", None)
    base = inherited
    if acc is not None:
        base = {"read-only": RO, "write-only": WO, "read-write": RW, "writeOnce": WO,
                "read-writeOnce": RW}.get(acc.value, RW)
    if ra is not None and ra.value == "clear" and base in (RO, RW, None):
        return RC
    if mwv is not None and base in (RW, None):
        return {"oneToClear": W1C, "oneToSet": W1S}.get(mwv.value, base)
    return base


def _reg(r: Any, offset: int, name: str, count: int | None = None,
         stride: int | None = None) -> RegDesc:
    if r.size is not None and r.size not in (8, 16, 32, 64):
        raise DescriptionError(f"register {r.name}: size {r.size} bits (8, 16, 32 or 64)")
    size = (r.size or 32) // 8
    access = _access(r) or RW
    reset = r.reset_value
    mask = r.reset_mask if r.reset_mask is not None else (1 << (8 * size)) - 1
    full = (1 << (8 * size)) - 1
    fields = [FieldDesc(f.name, f.bit_offset, f.bit_width, _access(f, None), f.description or "")
              for f in (r.fields or [])]
    field_access = {f.access for f in fields if f.access is not None}
    if r.access is None and len(field_access) == 1:
        access = field_access.pop()  # the register says nothing, its fields agree
    return RegDesc(name, offset, size, access,
                   reset=None if reset is None or mask & full != full else reset & full,
                   fields=fields, count=count, stride=stride,
                   side_effects=getattr(r, "read_action", None) is not None,
                   doc=(r.description or "").strip())


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


def _members(items: list[Any], origin: int, prefix: str) -> list[RegDesc | BlockDesc]:
    """cmsis-svd's registers/clusters (absolute offsets, prefixed names) relative to `origin`."""
    out: list[RegDesc | BlockDesc] = []
    for r in items or []:
        kind = type(r).__name__
        first = getattr(r, "meta_register", None) or getattr(r, "meta_cluster", None) or r
        if getattr(first, "address_offset", 0) is None:
            raise DescriptionError(f"{prefix}{first.name}: no valid addressOffset")
        if kind == "SVDRegister":
            out.append(_reg(r, r.address_offset - origin, _strip(r.name, prefix)))
        elif kind == "SVDRegisterArray":
            meta, regs = r.meta_register, r.registers
            if "[%s]" in meta.name:
                out.append(_reg(regs[0], regs[0].address_offset - origin,
                                _strip(meta.name, prefix), len(regs), meta.dim_increment))
            else:  # a dim list (PA%s: PA0, PA1...) is separate registers
                out += [_reg(x, x.address_offset - origin, _strip(x.name, prefix)) for x in regs]
        elif kind == "SVDRegisterCluster":
            out.append(_cluster(r, [r], origin, prefix))
        elif kind == "SVDRegisterClusterArray":
            out.append(_cluster(r.meta_cluster, r.clusters, origin, prefix))
    return out


def _cluster(meta: Any, copies: list[Any], origin: int, prefix: str) -> BlockDesc:
    first = copies[0]
    start = first.address_offset
    inner = f"{prefix}{first.name}_"
    members = _members(list(first.registers or []) + list(first.clusters or []), start, inner)
    array = len(copies) > 1 or "[%s]" in meta.name
    return BlockDesc(_strip(meta.name, prefix), start - origin, members,
                     count=len(copies) if array else None,
                     stride=meta.dim_increment if array else None,
                     doc=(meta.description or "").strip())


def _stamp(path: str | Path) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (str(path), 0, 0)  # read_bounded reports it
    return (os.path.realpath(path), st.st_mtime_ns, st.st_size)


def load_device(path: str | Path, fixes: str | Path | dict | None = None) -> Any:
    """The cmsis-svd device of `path`, with `fixes` (a YAML file or dict) applied first.

    Parsed once per file version and fixes (a vendor file takes ~1 s to parse); treat the
    result as read-only."""
    if isinstance(fixes, dict):
        key: Any = ("dict", json.dumps(fixes, sort_keys=True, default=str))
    else:
        key = None if fixes is None else ("file", _stamp(fixes))
    return _load_device(_stamp(path), str(path), key, None if fixes is None else str(fixes))


@functools.lru_cache(maxsize=8)
def _load_device(stamp: tuple, path: str, key: Any, fixes_path: str | None) -> Any:
    from cmsis_svd.parser import SVDParser
    from lxml import etree

    from .svdpatch import apply_fixes

    data = read_bounded(path, MAX_SVD, "SVD file", DescriptionError, regular=True)
    try:
        tree = etree.ElementTree(etree.fromstring(data, etree.XMLParser(resolve_entities=False,
                                                                         no_network=True)))
    except etree.XMLSyntaxError as exc:
        raise DescriptionError(f"SVD file {path}: not well-formed XML: {exc}") from None
    if tree.getroot().tag != "device":
        raise DescriptionError(f"SVD file {path}: the root element is <{tree.getroot().tag}>, "
                               "not <device>")
    if key is not None:
        apply_fixes(tree, json.loads(key[1]) if key[0] == "dict" else fixes_path, str(path))
    try:
        return SVDParser(tree).get_device()
    except Exception as exc:  # the parser's own errors are bare exceptions of many kinds
        raise DescriptionError(f"SVD file {path}: cannot be read as CMSIS-SVD: "
                               f"{type(exc).__name__}: {exc}") from None


def peripherals(path: str | Path, fixes: str | Path | dict | None = None) -> dict[str, int]:
    """Every peripheral of an SVD file with its base address."""
    return {p.name: p.base_address for p in load_device(path, fixes).peripherals}


def from_svd(path: str | Path, peripheral: str, *,
             fixes: str | Path | dict | None = None) -> type[RegisterMap]:
    """A RegisterMap class for `peripheral` of the SVD file at `path`.

    The class has `.base_address` (from the file), `.source` and `.notes` (what was adjusted:
    renamed attributes, aliases, registers kept as plain integers). `fixes` patches the file
    first (svdtools-style YAML: see driverkit.regs.svdpatch).
    """
    dev = load_device(path, fixes)
    by_name = {p.name: p for p in dev.peripherals}
    per = by_name.get(peripheral) or {k.upper(): v for k, v in by_name.items()}.get(
        peripheral.upper())
    if per is None:
        raise UnknownPeripheral(f"{path}: no peripheral {peripheral!r}; the file has: "
                                + ", ".join(sorted(by_name)))
    if not isinstance(per.base_address, int):
        raise DescriptionError(f"{path} {per.name}: no valid baseAddress")
    size = None
    blocks = getattr(per, "address_blocks", None) or []
    if blocks:
        size = max(b.offset + b.size for b in blocks)
    try:
        members = _members(per.registers or [], 0, "")
    except DescriptionError as exc:
        raise DescriptionError(f"{path} {per.name}: {exc}") from None
    except (TypeError, AttributeError) as exc:  # holes cmsis-svd leaves for invalid values
        raise DescriptionError(f"{path} {per.name}: a register lacks a valid value: {exc}") \
            from None
    desc = BlockDesc(per.name, 0, members,
                     doc=(per.description or "").strip(), base_address=per.base_address,
                     source=f"{Path(path).name} {per.name}"
                     + (f" (derived from {per.derived_from})" if per.derived_from else ""))
    try:
        cls = build_map(desc)
    except Exception as exc:
        raise DescriptionError(f"{path} {per.name}: {exc}") from None
    if size and cls.extent() > size:
        cls.notes.append(f"registers reach {cls.extent():#x}, past the address block "
                         f"{size:#x}")
    cls.block_size = size  # type: ignore[attr-defined]
    return cls
