"""ELF images (pyelftools): symbols, sections, PT_LOAD segments, DWARF struct layouts.

    img = ElfImage.open("fw.elf")
    img.symbols["carveout_base"].address
    img.load(machine)                  # anything with write_phys(addr, data)
    compare_struct(MyRegs, img.struct("mailbox"))   # [] when the layouts agree
"""

from __future__ import annotations

from .dwarf import DwarfStruct
from .image import ElfImage, PhysWriter, Section, Segment
from .layout import FieldLayout, LayoutMismatch, compare_struct, layout_of
from .symbols import Symbol, SymbolTable

__all__ = ["DwarfStruct", "ElfImage", "FieldLayout", "LayoutMismatch", "PhysWriter", "Section",
           "Segment", "Symbol", "SymbolTable", "compare_struct", "layout_of"]
