"""The main job: the seed article's experiment, reproduced on a real Linux guest.

Boots QEMU pc (256 MiB, SeaBIOS) with `mem=248M`, carves the top of RAM into a DMA pool, has
the Python edu driver DMA through it, reads it back from the host and from inside the guest,
and prints the article's allocator table next to what Linux 6.1 really does; then the arm64
chapter does "reserve at boot, map it later" with a /reserved-memory node on QEMU virt.
See driverkit/demos/seed/ for the steps.

    python scripts/demo.py              # progress and the table
    python scripts/demo.py --json       # progress on stderr, the whole result as JSON on stdout
    python scripts/demo.py --one-boot   # skip the second (memmap=8M$248M) boot
    python scripts/demo.py --no-arm64   # skip the arm64 chapter (/reserved-memory on virt)
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from driverkit.demos.seed import run
from driverkit.errors import DriverkitError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print the whole result as JSON")
    ap.add_argument("--one-boot", action="store_true",
                    help="skip the second boot that measures memmap=8M$248M")
    ap.add_argument("--no-arm64", action="store_true",
                    help="skip the arm64 chapter (a /reserved-memory carve-out on virt)")
    ap.add_argument("--boot-timeout", type=float, default=120.0, metavar="SECONDS",
                    help="deadline for each guest to reach its shell prompt (default 120)")
    args = ap.parse_args(argv)
    if args.boot_timeout <= 0:
        ap.error(f"--boot-timeout must be positive, got {args.boot_timeout:g}")

    def say(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    try:
        result = asyncio.run(run(clean_boot=not args.one_boot, say=say,
                                 boot_timeout=args.boot_timeout, arm64=not args.no_arm64))
    except DriverkitError as exc:
        print(f"demo: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(result.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
