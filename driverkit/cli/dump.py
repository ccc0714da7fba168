"""`driverkit dump ADDR LEN`: guest-physical bytes as `hexdump -C` prints them.

By default one bulk read through QEMU's memory core, which splits it into the widest accesses
the device declares valid (edu: 8 bytes, which it answers with all-ones below 0x80);
--width makes every access that wide, as a loop of devmem reads would. Accesses QEMU rejects
are reported (see widths.py), never shown as data silently.
"""

from __future__ import annotations

import argparse
import base64

from ..errors import ConfigError, UnbackedError
from ..units import parse_int, parse_size
from .common import Outcome, add_machine_command
from .hexdump import hexdump_c
from .peekpoke import parse_width
from .widths import add_width_policy, rejections, reported

MAX_DUMP = 16 << 20
MAX_WIDE_DUMP = 1 << 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dump", help="dump guest-physical memory as hexdump -C prints it")
    p.add_argument("addr", help="physical address (0x... or decimal)")
    p.add_argument("length", metavar="LEN", help="bytes, e.g. 256, 0x100, 4K (at most 16M)")
    p.add_argument("--width", default=None, metavar="BITS",
                   help="read with accesses of this width (8/16/32/64 or b/h/w/l); default: "
                   "QEMU's bulk read, which uses the widest access the device declares valid")
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
    with reported(m):
        if args.width is None:
            data = m.read_phys(addr, n)
        else:
            w = parse_width(args.width)
            if addr % w or n % w:
                raise ConfigError(f"dump --width {w * 8}: address and LEN must be multiples of {w}")
            if n > MAX_WIDE_DUMP:
                raise ConfigError(f"dump --width: LEN {n} is more than {MAX_WIDE_DUMP} bytes (one "
                                  "qtest round trip per access); leave out --width for bulk reads")
            io = m.ioremap(addr, n, allow_unbacked=args.allow_unbacked)
            data = b"".join(io.read_width(off, w).to_bytes(w, "little") for off in range(0, n, w))
        warnings = rejections(m, args, f"dump {addr:#x} {n:#x}")
    obj = {"addr": addr, "length": n, "data": base64.b64encode(data).decode(),
           "hex": data.hex(), "valid": not warnings}
    return Outcome(obj, hexdump_c(data, addr), warnings=warnings)
