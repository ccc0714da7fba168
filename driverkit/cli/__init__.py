"""The `driverkit` command. Each subcommand lives in its own module here, found automatically.

A command module defines `register(subparsers)` which adds its parser and sets
`func=run`, where `run(args) -> int` is the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from ..errors import DriverkitError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="driverkit",
        description="Drive emulated devices in QEMU from Python; model a guest's physical memory.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name == "common":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DriverkitError as exc:
        print(f"driverkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
