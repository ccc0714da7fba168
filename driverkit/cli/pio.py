"""`driverkit inb/inw/inl PORT`, `outb/outw/outl PORT VALUE`: x86 port I/O, values printed
as devmem prints them (0x, upper-case, zero-padded)."""

from __future__ import annotations

import argparse

from ..errors import ConfigError, ValueRangeError
from ..units import parse_int
from .common import Outcome, add_machine_command
from .peekpoke import hexval

WIDTHS = {"b": 1, "w": 2, "l": 4}


def register(sub: argparse._SubParsersAction) -> None:
    for letter, width in WIDTHS.items():
        p = sub.add_parser(f"in{letter}", help=f"read a {width * 8}-bit I/O port")
        p.add_argument("port", help="port number (0x... or decimal)")
        add_machine_command(p, in_body)
        p.set_defaults(pio_width=width)
        p = sub.add_parser(f"out{letter}", help=f"write a {width * 8}-bit I/O port")
        p.add_argument("port", help="port number (0x... or decimal)")
        p.add_argument("value", help="value (0x... or decimal)")
        add_machine_command(p, out_body)
        p.set_defaults(pio_width=width)


def _port(m, args: argparse.Namespace) -> int:
    if m.spec.arch != "x86_64":
        raise ConfigError(f"{args.command}: I/O ports exist only on x86_64, not {m.spec.arch}")
    port = parse_int(args.port, "port")
    if not 0 <= port <= 0x10000 - args.pio_width:
        raise ValueRangeError(f"port {port:#x} is outside 0-0xffff for a {args.pio_width}-byte "
                              "access")
    return port


async def in_body(m, args: argparse.Namespace) -> Outcome:
    port, w = _port(m, args), args.pio_width
    value = m.ioport_map(port, w).read_width(0, w)
    return Outcome({"port": port, "width": w * 8, "value": value}, hexval(value, w))


async def out_body(m, args: argparse.Namespace) -> Outcome:
    port, w = _port(m, args), args.pio_width
    value = parse_int(args.value, "value")
    if value < 0 or value >> (8 * w):
        raise ValueRangeError(f"value {value:#x} does not fit in {w * 8} bits")
    m.ioport_map(port, w).write_width(0, w, value)
    return Outcome({"port": port, "width": w * 8, "written": value}, "")
