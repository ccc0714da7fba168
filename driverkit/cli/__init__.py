"""The `driverkit` command. Each subcommand lives in its own module here, found automatically.

A command module defines `register(subparsers)` which adds its parser and sets
`func=run`, where `run(args) -> int` is the exit status. Machine commands use
common.add_machine_command instead, so they run the same on a session's machine.

Exit status: 0 success; 1 a check or comparison found differences (check, memcheck,
poke --verify); 2 an error (bad input, unknown session, QEMU died...): with --json it
is one object {"error": message, "type": class} on stdout; 130 interrupted; 141 stdout
closed early (e.g. piped into head), quietly.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
from importlib.metadata import PackageNotFoundError, version

from ..errors import ConfigError, DriverkitError

NOT_COMMANDS = ("common", "hexdump", "described", "widths")


class UsageError(ConfigError):
    """The command line does not parse (argparse's complaint, with the command's usage)."""


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so --json can report it as JSON."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message}\n{self.format_usage().strip()}")


def package_version() -> str:
    try:
        return version("driverkit")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="driverkit",
        description="Drive emulated devices in QEMU from Python; model a guest's physical memory.",
        epilog="exit status: 0 ok, 1 a check found differences, 2 error (JSON under --json), "
        "130 interrupted, 141 output pipe closed",
    )
    parser.add_argument("--version", action="version", version=f"driverkit {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in NOT_COMMANDS:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def _report(argv: list[str], command: str | None, exc: DriverkitError) -> None:
    if "--json" in argv:
        obj = {"error": str(exc), "type": type(exc).__name__}
        if command:
            obj["command"] = command
        extra = getattr(exc, "details", None)
        if isinstance(extra, dict):
            obj.update({k: v for k, v in extra.items() if k not in obj})
        sys.stdout.write(json.dumps(obj) + "\n")
    else:
        print(f"driverkit{' ' + command if command else ''}: error: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = None
    try:
        try:
            args = build_parser().parse_args(argv)
            command = args.command
            args.argv = argv
            rc = int(args.func(args) or 0)
        except DriverkitError as exc:
            _report(argv, command, exc)
            rc = 2
        sys.stdout.flush()
        return rc
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`driverkit memplan --json | head`): no traceback, and no
        # second failure when Python flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
