"""`driverkit dump ADDR LEN`: guest-physical bytes as `hexdump -C` prints them.

Read through QEMU's memory core, which splits each access into the widths the device
takes; accesses QEMU rejects are reported (see widths.py), never shown as data silently.
"""

from __future__ import annotations

import argparse
import base64

from ..errors import ConfigError, UnbackedError
from ..units import parse_int, parse_size
from .common import Outcome, add_machine_command
from .hexdump import hexdump_c
from .widths import add_width_policy, flush, rejections

MAX_DUMP = 16 << 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dump", help="dump guest-physical memory as hexdump -C prints it")
    p.add_argument("addr", help="physical address (0x... or decimal)")
    p.add_argument("length", metavar="LEN", help="bytes, e.g. 256, 0x100, 4K (at most 16M)")
    p.add_argument("--allow-unbacked", action="store_true",
                   help="read even where nothing is mapped")
    add_width_policy(p)
    add_machine_command(p, body)


async def body(m, args: argparse.Namespace) -> Outcome:
    addr = parse_int(args.addr, "address")
    n = parse_size(args.length, "LEN")
    if not 0 < n <= MAX_DUMP:
        raise ConfigError(f"LEN {n} must be between 1 and {MAX_DUMP} bytes")
    if addr < 0 or addr + n > 1 << 64:
        raise ConfigError(f"{addr:#x}+{n:#x} is outside the 64-bit address space")
    holes = [] if args.allow_unbacked else m.unbacked(addr, n)
    if holes:
        desc = ", ".join(f"{s:#x}-{s + k - 1:#x}" for s, k in holes[:4])
        raise UnbackedError(f"dump {addr:#x} {n:#x}: nothing backs {desc} "
                            "(--allow-unbacked reads it anyway)")
    flush(m)
    data = m.read_phys(addr, n)
    warnings = rejections(m, args, f"dump {addr:#x} {n:#x}")
    obj = {"addr": addr, "length": n, "data": base64.b64encode(data).decode(),
           "hex": data.hex(), "valid": not warnings}
    return Outcome(obj, hexdump_c(data, addr), warnings=warnings)
