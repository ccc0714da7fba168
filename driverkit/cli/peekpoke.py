"""`driverkit peek` / `driverkit poke`: one value at a physical address, as busybox devmem.

devmem's forms work: `peek ADDR [WIDTH]`, `poke ADDR [WIDTH] VALUE`, WIDTH one of 8/16/32/64
or devmem's letters b/h/w/l (8/16/32/64 bits: "l" is 64 as in busybox). Values print as devmem
prints them: 0x, upper-case, zero-padded to the width (0x010000ED).
"""

from __future__ import annotations

import argparse

from ..errors import ConfigError, ReadbackMismatch, UnbackedError, ValueRangeError
from ..units import parse_int
from .common import Outcome, add_machine_command
from .widths import add_width_policy, rejections, reported

BITS = {"8": 8, "16": 16, "32": 32, "64": 64, "b": 8, "h": 16, "w": 32, "l": 64}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("peek", help="read a value at a physical address, like busybox devmem",
                       description="devmem ADDRESS [WIDTH]: WIDTH 8/16/32/64 or b/h/w/l")
    p.add_argument("addr", help="physical address (0x... or decimal)")
    p.add_argument("width_arg", nargs="?", metavar="WIDTH", help="8/16/32/64 or b/h/w/l")
    _common(p, "read")
    add_machine_command(p, peek_body)
    p = sub.add_parser("poke", help="write a value at a physical address, then read it back",
                       description="devmem ADDRESS [WIDTH] VALUE: WIDTH 8/16/32/64 or b/h/w/l")
    p.add_argument("addr", help="physical address (0x... or decimal)")
    p.add_argument("rest", nargs="+", metavar="[WIDTH] VALUE", help="optional width, then value")
    p.add_argument("--verify", action="store_true",
                   help="a read-back that differs from the value written is an error (exit 2)")
    p.add_argument("--no-readback", action="store_true",
                   help="do not read back (registers where a read has side effects)")
    _common(p, "write")
    add_machine_command(p, poke_body)


def _common(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument("--width", default=None, help="8, 16, 32 or 64 bits (default 32)")
    p.add_argument("--allow-unbacked", action="store_true",
                   help=f"{verb} even where nothing is mapped")
    add_width_policy(p)


def parse_width(*given: str | None) -> int:
    """Bytes for the width given positionally or with --width (one of them; 32 bits if none)."""
    vals = [g for g in given if g is not None]
    if len(vals) > 1 and BITS.get(vals[0].lower()) != BITS.get(vals[1].lower()):
        raise ConfigError(f"two different widths given: {vals[0]} and {vals[1]}")
    text = (vals[0] if vals else "32").lower()
    if text not in BITS:
        raise ConfigError(f"width {text!r} is not one of 8, 16, 32, 64, b, h, w, l")
    return BITS[text] // 8


def hexval(value: int, width: int) -> str:
    """busybox devmem's format: 0x then upper-case hex, 2 digits per byte."""
    return f"0x{value:0{2 * width}X}"


def _mapping(m, args: argparse.Namespace, addr: int, width: int):
    try:
        return m.ioremap(addr, width, allow_unbacked=args.allow_unbacked)
    except UnbackedError as exc:  # say it in the CLI's words
        raise UnbackedError(str(exc).replace("pass allow_unbacked=True to map it anyway",
                                             "--allow-unbacked accesses it anyway")) from None


async def peek_body(m, args: argparse.Namespace) -> Outcome:
    width = parse_width(args.width_arg, args.width)
    addr = parse_int(args.addr, "address")
    io = _mapping(m, args, addr, width)
    with reported(m):
        value = io.read_width(0, width)
        warnings = rejections(m, args, f"peek {addr:#x} ({width * 8}-bit)")
    obj = {"addr": addr, "width": width * 8, "value": value, "backing": m.backing(addr),
           "valid": not warnings}
    return Outcome(obj, hexval(value, width), warnings=warnings)


async def poke_body(m, args: argparse.Namespace) -> Outcome:
    if len(args.rest) > 2:
        raise ConfigError(f"poke takes ADDR [WIDTH] VALUE, got {len(args.rest) + 1} arguments")
    width = parse_width(args.rest[0] if len(args.rest) == 2 else None, args.width)
    addr = parse_int(args.addr, "address")
    value = parse_int(args.rest[-1], "value")
    if value < 0 or value >> (8 * width):
        raise ValueRangeError(f"value {value:#x} does not fit in {width * 8} bits")
    io = _mapping(m, args, addr, width)
    with reported(m):
        io.write_width(0, width, value)
        m.sync_posted()  # the write is posted: QEMU's word on it comes once it ran
        warnings = rejections(m, args, f"poke {addr:#x} ({width * 8}-bit write)")
        obj = {"addr": addr, "width": width * 8, "written": value, "backing": m.backing(addr),
               "valid": not warnings}
        text = f"wrote {hexval(value, width)}"
        if not args.no_readback:
            back = io.read_width(0, width)
            bad = rejections(m, args, f"poke {addr:#x} ({width * 8}-bit read-back)")
            warnings += bad
            obj["value"] = back
            obj["valid"] = not warnings
            obj["readback_matches"] = back == value
            text += f", read back {hexval(back, width)}"
            if back != value:
                msg = (f"read back {hexval(back, width)} at {addr:#x}, not the "
                       f"{hexval(value, width)} written")
                if args.verify:
                    raise ReadbackMismatch(msg + " (--verify)")
                warnings.append(msg + " (a register may read differently; --verify makes this "
                                "an error)")
    return Outcome(obj, text, warnings=warnings)
