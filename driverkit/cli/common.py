"""Options and output helpers shared by the subcommands, and the one way a machine command runs:
on a throwaway machine, or on a session's machine (`--session N`, env DRIVERKIT_SESSION)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..machine.spec import ACCELS, ARCHES, MachineSpec

if TYPE_CHECKING:
    from ..machine.machine import Machine

SESSION_ENV = "DRIVERKIT_SESSION"
MACHINE_DEFAULTS = {"arch": "x86_64", "machine": None, "memory": "256M", "device": [],
                    "firmware": "bare", "accel": "tcg"}


@dataclass
class Outcome:
    """What a machine command produced: the JSON object, the text, the exit status, warnings."""

    obj: dict
    text: str
    rc: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_wire(self) -> dict:
        return {"obj": self.obj, "text": self.text, "rc": self.rc, "warnings": self.warnings}

    @classmethod
    def from_wire(cls, d: dict) -> "Outcome":
        return cls(d["obj"], d["text"], int(d["rc"]), list(d.get("warnings", [])))


MachineBody = Callable[["Machine", argparse.Namespace], Awaitable[Outcome]]
SpecFn = Callable[[argparse.Namespace], MachineSpec]


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object for scripting (errors too: {\"error\": ...})")


def add_machine_options(parser: argparse.ArgumentParser) -> None:
    """The machine options every launching command takes."""
    g = parser.add_argument_group("machine")
    d = MACHINE_DEFAULTS
    g.add_argument("--arch", default=d["arch"], choices=list(ARCHES))
    g.add_argument("--machine", default=d["machine"],
                   help="q35 (default on x86_64), pc, virt on aarch64, a board on arm")
    g.add_argument("--memory", default=d["memory"], help="RAM size, e.g. 256M, 4G (default 256M)")
    g.add_argument("--device", action="append", default=list(d["device"]), metavar="DEV",
                   help="a QEMU -device string (repeatable), e.g. edu")
    g.add_argument("--firmware", default=d["firmware"], help="bare (default), seabios, or a file")
    g.add_argument("--accel", default=d["accel"], choices=list(ACCELS),
                   help="tcg (default), kvm, or auto: kvm only if a probe guest really runs on it")


def add_machine_command(parser: argparse.ArgumentParser, body: MachineBody,
                        spec_fn: SpecFn | None = None) -> None:
    """Make `parser` a machine command: machine options, --session, --json; runs `body`."""
    add_machine_options(parser)
    parser.add_argument("--session", metavar="NAME", default=None,
                        help=f"run on the machine of session NAME (default: ${SESSION_ENV}; "
                        "without either, a machine is launched for this command)")
    add_json(parser)
    parser.set_defaults(func=run_machine_command, machine_body=body,
                        spec_fn=spec_fn or spec_from_args)


def spec_from_args(args: argparse.Namespace) -> MachineSpec:
    return MachineSpec(
        arch=args.arch,
        machine=args.machine,
        memory=args.memory,
        devices=list(args.device),
        firmware=args.firmware,
        accel=args.accel,
    )


def session_of(args: argparse.Namespace) -> str | None:
    return getattr(args, "session", None) or os.environ.get(SESSION_ENV) or None


def _explicit_machine_options(args: argparse.Namespace) -> list[str]:
    return [f"--{k}" for k, default in MACHINE_DEFAULTS.items()
            if getattr(args, k, default) not in (default, None)]


def run_machine_command(args: argparse.Namespace) -> int:
    """Run the command's body on a session's machine or on one launched for this command."""
    name = session_of(args)
    if name:
        given = _explicit_machine_options(args)
        if given:
            raise ConfigError(f"{', '.join(given)} cannot change session {name!r}'s machine "
                              "(it was fixed at `driverkit start`); drop them or leave out "
                              "--session")
        from ..session.client import Session

        with Session.attach(name) as s:
            out = s.run_command(args.argv)
    else:
        out = asyncio.run(_on_own_machine(args))
    return finish(args, out)


async def _on_own_machine(args: argparse.Namespace) -> Outcome:
    from ..machine.machine import Machine

    async with Machine(args.spec_fn(args)) as m:
        return await args.machine_body(m, args)


def warn(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "json", False):
        print(f"driverkit {args.command}: warning: {message}", file=sys.stderr)


def finish(args: argparse.Namespace, out: Outcome) -> int:
    """Print an Outcome (warnings on stderr, or inside the JSON object) and return its status."""
    obj = dict(out.obj)
    if out.warnings:
        obj.setdefault("warnings", out.warnings)
        for w in out.warnings:
            warn(args, w)
    emit(args, obj, out.text)
    return out.rc


def emit(args: argparse.Namespace, obj: Any, text: str) -> None:
    """Print JSON when --json was given, else the human text."""
    if getattr(args, "json", False):
        json.dump(obj, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def add_svg(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--svg", metavar="FILE", help=f"also draw {what} to FILE (SVG)")


def write_svg(args: argparse.Namespace, render: Callable[[], str]) -> None:
    """Write --svg FILE when given; an unwritable path is a ConfigError with the reason."""
    if not getattr(args, "svg", None):
        return
    try:
        with open(args.svg, "w", encoding="utf-8") as f:
            f.write(render())
    except OSError as exc:
        raise ConfigError(f"--svg {args.svg}: {exc.strerror}") from None


def add_model_options(parser: argparse.ArgumentParser, probe_help: str) -> None:
    """The allocator-model options memplan and memcheck share: command line, probes, leniency."""
    parser.add_argument(
        "--cmdline", default="", help='kernel command line, e.g. "mem=248M crashkernel=64M"'
    )
    parser.add_argument("--probe", action="append", default=[], metavar="START:SIZE",
                        help=probe_help)
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="read the command line as leniently as the kernel does, warning instead of failing",
    )


def add_arm64_options(parser: argparse.ArgumentParser) -> None:
    """What only the arm64 model takes: /reserved-memory nodes added to QEMU's device tree."""
    parser.add_argument(
        "--reserved-memory", action="append", default=[], metavar="NAME:SIZE[@START][,FLAGS]",
        help="--arch aarch64: a /reserved-memory node added to QEMU's virt device tree, e.g. "
             "carve:8M@0x4e000000,no-map or pool:16M,reusable,shared-dma-pool,align=4M "
             "(repeatable)")
