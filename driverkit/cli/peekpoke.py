"""`driverkit peek` / `driverkit poke`: read or write one value at a physical address (busybox devmem)."""

from __future__ import annotations

import argparse
import asyncio

from ..errors import ValueRangeError, WidthError
from ..machine.machine import Machine
from ..units import parse_int
from .common import add_json, add_machine_options, emit, spec_from_args

WIDTHS = {8: 1, 16: 2, 32: 4, 64: 8}


def register(sub: argparse._SubParsersAction) -> None:
    for name, verb, helptext, func in (
        ("peek", "read", "read a value at a physical address, like busybox devmem", run_peek),
        ("poke", "write", "write a value at a physical address, then read it back", run_poke),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("addr", help="physical address (0x... or decimal)")
        if name == "poke":
            p.add_argument("value", help="value (0x... or decimal)")
        p.add_argument("--width", type=int, default=32, help="8, 16, 32 or 64 bits (default 32)")
        p.add_argument("--allow-unbacked", action="store_true",
                       help=f"{verb} even where nothing is mapped")
        add_machine_options(p)
        add_json(p)
        p.set_defaults(func=func)


def _width(bits: int) -> int:
    if bits not in WIDTHS:
        raise WidthError(f"--width {bits} is not one of 8, 16, 32, 64")
    return WIDTHS[bits]


async def _access(args: argparse.Namespace, value: int | None) -> dict:
    width = _width(args.width)
    addr = parse_int(args.addr, "address")
    if value is not None and (value < 0 or value >> (8 * width)):
        raise ValueRangeError(f"value {value:#x} does not fit in {args.width} bits")
    async with Machine(spec_from_args(args)) as m:
        io = m.ioremap(addr, width, allow_unbacked=args.allow_unbacked)
        backing = m.backing(addr)
        if value is not None:
            io.write_width(0, width, value)
        readback = io.read_width(0, width)
    out = {"addr": addr, "width": args.width, "value": readback, "backing": backing}
    if value is not None:
        out["written"] = value
    return out


def run_peek(args: argparse.Namespace) -> int:
    info = asyncio.run(_access(args, None))
    emit(args, info, f"{info['value']:#x}")
    return 0


def run_poke(args: argparse.Namespace) -> int:
    value = parse_int(args.value, "value")
    info = asyncio.run(_access(args, value))
    emit(args, info, f"wrote {value:#x}, read back {info['value']:#x}")
    return 0
