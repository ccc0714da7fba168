"""Register maps over construct: declare a device's registers once, then read/write/modify them
by name, dump them decoded, and test the declaration against the live device (check()).

    class EduRegs(RegisterMap):
        id       = Register(0x00, Int32ul, RO, reset=0x010000ED)
        liveness = Register(0x04, Int32ul, RW, readback=lambda x: ~x & 0xFFFFFFFF)

    regs = EduRegs(bar0); regs.id.read(); EduRegs.check(bar0).ok
"""

from .access import ACCESS_KINDS, RC, RO, RW, W1C, W1S, WO, Access
from .block import Block, BoundArray, RegisterArray, RegisterBlock, RegisterMap, Slot
from .check import CheckReport, Finding
from .dump import dump, format_dump
from .register import BoundRegister, Register
from .shape import Field, Shape, shape_of

__all__ = [
    "ACCESS_KINDS",
    "RC",
    "RO",
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
