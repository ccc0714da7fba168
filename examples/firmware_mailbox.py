#!/usr/bin/env python3
"""Boot the bare-metal test firmware, talk to its mailbox, and check its carve-out against
driverkit.mem's memblock model; writes the model's map with the carve-out to an SVG.

    .venv/bin/python examples/firmware_mailbox.py [--cmdline "mem=200M carveout=1M"]
        [--machine q35] [--memory 256M] [--svg carveout.svg]

Needs the firmware built (scripts/build-guest, or guest/firmware/build.sh CACHE_DIR).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import zlib

from driverkit import Machine
from driverkit.errors import DriverkitError, MailboxError
from driverkit.firmware import (
    FirmwareMailbox,
    carveout_plan,
    firmware_spec,
    parse_console_map,
    predict_carveout,
)


async def main(args: argparse.Namespace) -> int:
    spec = firmware_spec(args.cmdline, machine=args.machine, memory=args.memory, devices=("edu",))
    async with Machine(spec) as m:
        fw = await FirmwareMailbox.attach(m, timeout=20)
        print(f"firmware carve-out {fw.base:#x} +{fw.size:#x} (align {fw.align:#x}, "
              f"mem= {fw.mem_limit:#x})")
        predicted = predict_carveout(args.machine, args.memory, args.cmdline, image=fw.image)
        agree = predicted.base == fw.base
        print(f"driverkit.mem predicts {predicted.base:#x}: {'agrees' if agree else 'DIFFERS'}")

        payload = b"driverkit" * 100
        fw.carveout.write(0x1000, payload)
        crc = await fw.crc32(0x1000, len(payload))
        print(f"CRC32 by the firmware {crc:#010x}, by zlib {zlib.crc32(payload):#010x}")
        edu = await fw.edu_factorial(10)
        print(f"edu at BAR0 {edu.bar0:#x} computed 10! = {edu.value}")
        try:
            await fw.crc32(fw.size - 4, 8)
        except MailboxError as exc:
            print(f"refused as expected: {exc} (code {exc.code})")

        plan = carveout_plan(args.machine, args.memory, args.cmdline, base=fw.base, size=fw.size,
                             e820=parse_console_map(m.console.text))
        if args.svg:
            with open(args.svg, "w") as f:
                f.write(plan.to_svg())
            print(f"map with the carve-out written to {args.svg}")
        fw.close()
    return 0 if agree else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cmdline", default="mem=200M carveout=1M")
    ap.add_argument("--machine", default="q35", choices=("q35", "pc"))
    ap.add_argument("--memory", default="256M")
    ap.add_argument("--svg", default="")
    ns = ap.parse_args()
    try:
        sys.exit(asyncio.run(main(ns)))
    except DriverkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
