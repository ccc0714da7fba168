"""Decoded register dumps: `dump(regs) -> dict` (for --json) and `format_dump(d) -> str`.

Registers whose read has effects (RC, WO, side_effects=True) are not read unless
destructive=True; their entry says why it was skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import construct as cs

from .register import read_logical_many

if TYPE_CHECKING:
    from .block import RegisterBlock


def jsonable(value: Any) -> Any:
    """A parsed construct value as plain JSON types (enum names as strings, no reserved fields)."""
    if isinstance(value, cs.EnumIntegerString):
        return str(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if value is None or isinstance(value, (str, float)):
        return value
    return str(value)


def dump(regs: RegisterBlock, *, destructive: bool = False) -> dict[str, Any]:
    """Read and decode every register of `regs`; JSON-ready."""
    io = regs.iomem
    entries = []
    to_read = []  # (entry, bound register, decl): read together below, pipelined
    for r in regs.registers():
        d = r.decl
        entry: dict[str, Any] = {
            "name": r.path,
            "offset": r.offset,
            "width": d.width,
            "access": d.short_access(),
            "field_access": {n: str(a) for n, a in d.field_access.items()},
            "reset": d.reset,
            "value": None,
            "fields": None,
            "skipped": None,
        }
        if d.destructive_read and not destructive:
            entry["skipped"] = (
                "write-only"
                if not d.readable
                else "read has side effects"
                if d.side_effects
                else "read-to-clear"
            )
        elif not d.readable:
            entry["skipped"] = "write-only"
        else:
            to_read.append((entry, r, d))
        entries.append(entry)
    values = read_logical_many([r for _, r, _ in to_read])
    for (entry, _, d), logical in zip(to_read, values):
        entry["value"] = logical
        decoded = d.shape.decode(logical)
        if d.shape.kind == "struct":
            entry["fields"] = jsonable(decoded)
        elif d.shape.kind == "value":
            entry["fields"] = {"value": jsonable(decoded)}
    return {
        "map": type(regs).__name__,
        "iomem": {"name": io.name, "space": io.space, "phys": io.phys, "size": io.size},
        "base": regs.base,
        "registers": entries,
    }


def format_dump(d: dict[str, Any]) -> str:
    """The dump as an aligned text table, one register a line, fields decoded after the value."""
    io = d["iomem"]
    label = f" {io['name']!r}" if io["name"] else ""
    lines = [f"{d['map']} on{label} {io['space']} {io['phys'] + d['base']:#x}"]
    regs = d["registers"]
    namew = max((len(e["name"]) for e in regs), default=4)
    accw = max((len(e["access"]) for e in regs), default=2)
    for e in regs:
        digits = e["width"] * 2
        if e["value"] is None:
            val = f"({e['skipped']})".ljust(digits + 2)
        else:
            val = f"0x{e['value']:0{digits}x}"
        line = f"  {e['offset']:#06x}  {e['name']:<{namew}}  {e['access']:<{accw}}  {val}"
        if e["fields"]:
            line += "  " + " ".join(f"{k}={_short(v)}" for k, v in e["fields"].items())
        lines.append(line.rstrip())
    return "\n".join(lines)


def _short(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v) if v < 10 else f"{v:#x}"
    if isinstance(v, dict):
        return "{" + ",".join(k for k, x in v.items() if x) + "}"
    return str(v)
