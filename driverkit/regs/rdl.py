"""SystemRDL -> RegisterMap: `from_rdl(path, top=None)`, compiled with systemrdl-compiler
(the Accellera-aligned reference front end, maintained by the PeakRDL project).

What maps: an addrmap's registers (regwidth, accesswidth -> widths, field sw/onread/onwrite ->
RO/WO/RW/RC/W1C/W1S, field reset values), register arrays (dimension, stride), regfiles and
nested addrmaps (sub-blocks, arrays of them). Three user properties say what RDL cannot:
dk_readback ("inverse"), dk_side_effects, dk_volatile (see devices/edu.rdl). Fields the
hardware writes (hw=w/rw) are not made volatile: say so with dk_volatile.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..errors import DescriptionError, UnknownPeripheral
from ..files import read_bounded
from .access import RC, RO, RW, W1C, W1S, WO, Access
from .block import RegisterMap
from .describe import BlockDesc, FieldDesc, RegDesc, build_map

MAX_RDL = 16 << 20
UDPS = ("dk_readback", "dk_side_effects", "dk_volatile")


def _field_access(f: Any) -> Access:
    from systemrdl.rdltypes import OnReadType, OnWriteType

    readable, writable = f.is_sw_readable, f.is_sw_writable
    onread, onwrite = f.get_property("onread"), f.get_property("onwrite")
    if readable and onread == OnReadType.rclr:
        return RC
    if writable and onwrite == OnWriteType.woclr:
        return W1C
    if writable and onwrite == OnWriteType.woset:
        return W1S
    if readable and writable:
        return RW
    return RO if readable else WO


def _udp(node: Any, name: str) -> Any:
    try:
        return node.get_property(name)
    except LookupError:
        return None


def _array(node: Any) -> tuple[int | None, int | None]:
    """(elements, stride) of an array node (all dimensions flattened), or (None, None)."""
    if not node.is_array:
        return None, None
    return math.prod(node.array_dimensions), node.array_stride


def _reg(r: Any) -> RegDesc:
    size = r.get_property("regwidth") // 8
    fields, reset, known = [], 0, True
    for f in r.fields():
        fields.append(FieldDesc(f.inst_name, f.lsb, f.width, _field_access(f),
                                f.get_property("desc") or ""))
        value = f.get_property("reset")
        if isinstance(value, int):
            reset |= value << f.lsb
        else:
            known = False
    kinds = {f.access for f in fields}
    access = kinds.pop() if len(kinds) == 1 else RW
    count, stride = _array(r)
    return RegDesc(r.inst_name, r.raw_address_offset, size, access,
                   reset=reset if known and fields else None, fields=fields,
                   count=count, stride=stride,
                   side_effects=bool(_udp(r, "dk_side_effects")),
                   volatile=bool(_udp(r, "dk_volatile")),
                   widths=(r.get_property("accesswidth") // 8,),
                   readback=_udp(r, "dk_readback"),
                   doc=r.get_property("name") or "")


def _block(node: Any, notes: list[str]) -> list[RegDesc | BlockDesc]:
    from systemrdl.node import AddrmapNode, MemNode, RegfileNode, RegNode

    out: list[RegDesc | BlockDesc] = []
    for child in node.children(unroll=False):
        if isinstance(child, RegNode):
            out.append(_reg(child))
        elif isinstance(child, (RegfileNode, AddrmapNode)):
            count, stride = _array(child)
            out.append(BlockDesc(child.inst_name, child.raw_address_offset,
                                 _block(child, notes), count=count, stride=stride,
                                 doc=child.get_property("name") or ""))
        elif isinstance(child, MemNode):
            notes.append(f"{child.get_path()}: a mem block ({child.size:#x} bytes) is not a "
                         "register; left out")
    return out


class _Collect:
    """A systemrdl message printer that keeps the messages for the error we raise."""

    def __init__(self) -> None:
        self.lines: list[str] = []


def _compiler(collect: _Collect) -> Any:
    from systemrdl import RDLCompiler
    from systemrdl.messages import MessagePrinter

    class Printer(MessagePrinter):
        def print_message(self, severity, text, src_ref) -> None:  # type: ignore[override]
            where = ""
            if src_ref is not None and getattr(src_ref, "filename", None):
                line = getattr(src_ref, "line", None)
                where = f"{Path(src_ref.filename).name}:{line}: " if line else ""
            collect.lines.append(f"{where}{severity.name.lower()}: {text}")

    return RDLCompiler(message_printer=Printer())


def from_rdl(path: str | Path, top: str | None = None, *,
             defines: dict[str, str] | None = None) -> type[RegisterMap]:
    """A RegisterMap class for addrmap `top` (default: the last one defined) of a SystemRDL file.

    The class has `.source` and `.notes`; `.base_address` is None (RDL says where a block's
    registers are, the board or the PCI BAR says where the block is).
    """
    from systemrdl import RDLCompileError

    read_bounded(path, MAX_RDL, "SystemRDL file", DescriptionError, regular=True)
    collect = _Collect()
    rdlc = _compiler(collect)
    try:
        rdlc.compile_file(str(path), defines=defines)
        root = rdlc.elaborate(top_def_name=top)
    except RDLCompileError:
        msg = "; ".join(collect.lines[-6:]) or "compile error"
        if top is not None and "not found" in msg.lower():
            raise UnknownPeripheral(f"{path}: no addrmap {top!r}: {msg}") from None
        raise DescriptionError(f"SystemRDL file {path}: {msg}") from None
    node = root.top
    notes: list[str] = []
    desc = BlockDesc(node.inst_name, 0, _block(node, notes), size=node.size,
                     doc=node.get_property("name") or "",
                     source=f"{Path(path).name} {node.inst_name}", notes=notes)
    try:
        return build_map(desc)
    except Exception as exc:
        raise DescriptionError(f"{path} {node.inst_name}: {exc}") from None
