"""Register maps over construct: declare a device's registers once, then read/write/modify them
by name, dump them decoded, and test the declaration against the live device.

    class EduRegs(RegisterMap):
        id       = Register(0x00, Int32ul, RO, reset=0x010000ED, widths=(4,))
        liveness = Register(0x04, Int32ul, RW, readback=lambda x: ~x & 0xFFFFFFFF)
        status   = Register(0x20, Status, RW, fields={"computing": RO})

    regs = EduRegs(bar0)
    regs.id.read(); regs.status.modify(irq_on_fact=1)
    await regs.status.wait_for(computing=0, timeout=1)
    dump(regs)                               # JSON-ready dict (format_dump(d) / str(regs) for text)
    report = EduRegs.check(bar0)             # .ok, .mismatches, str(report), report.to_json()

Modules: access (kinds), shape (subcon -> width, byte order, field masks), register
(declaration + bound accessors), block (maps, arrays, repeated blocks), check (the layout
test) and findings (its report), dump;
target: RegisterIo, what a map is bound to (an IoMem, or anything with sized read/write).
"""

from .access import ACCESS_KINDS, RC, RO, RW, W1C, W1S, WO, Access
from .block import Block, BoundArray, RegisterArray, RegisterBlock, RegisterMap, Slot
from .dump import dump, format_dump
from .findings import CheckReport, Finding
from .register import BoundRegister, Register
from .shape import Field, Shape, shape_of
from .target import RegisterIo

__all__ = [
    "ACCESS_KINDS",
    "RC",
    "RO",
    "RegisterIo",
    "RW",
    "W1C",
    "W1S",
    "WO",
    "Access",
    "Block",
    "BoundArray",
    "BoundRegister",
    "CheckReport",
    "Field",
    "Finding",
    "Register",
    "RegisterArray",
    "RegisterBlock",
    "RegisterMap",
    "Shape",
    "Slot",
    "dump",
    "format_dump",
    "shape_of",
]
