"""`driverkit elf FILE`: symbols and loadable segments of an ELF."""

from __future__ import annotations

import argparse

from ..elf import ElfImage
from .common import add_json, emit


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("elf", help="list an ELF's symbols and loadable segments")
    p.add_argument("file", help="the ELF file")
    p.add_argument("--all", action="store_true",
                   help="also list local, section and file symbols (default: functions and objects)")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    img = ElfImage.open(args.file)
    syms = [s for s in img.symbols.all()
            if args.all or (s.kind in ("func", "object") or s.binding != "local")
            and s.kind not in ("section", "file")]
    lines = [f"{img.path}: {img.machine}, ELF{32 if img.elfclass == 32 else 64}, "
             f"entry {img.entry:#x}", "", "PT_LOAD segments:",
             f"  {'paddr':>10}  {'vaddr':>10}  {'filesz':>8}  {'memsz':>8}  flags"]
    for seg in img.segments:
        lines.append(f"  {seg.paddr:#10x}  {seg.vaddr:#10x}  {seg.filesz:#8x}  {seg.memsz:#8x}  {seg.flags}")
    lines += ["", "symbols:", f"  {'address':>10}  {'size':>6}  {'kind':<7} {'bind':<6} {'section':<9} name"]
    for s in syms:
        lines.append(f"  {s.address:#10x}  {s.size:6d}  {s.kind:<7} {s.binding:<6} {s.section:<9} {s.name}")
    obj = {"path": img.path, "machine": img.machine, "class": img.elfclass, "entry": img.entry,
           "segments": [s.to_dict() for s in img.segments], "symbols": [s.to_dict() for s in syms]}
    emit(args, obj, "\n".join(lines))
    return 0
