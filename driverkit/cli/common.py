"""Options and output helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..machine.spec import MachineSpec


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object for scripting")


def add_machine_options(parser: argparse.ArgumentParser) -> None:
    """The machine options every launching command takes."""
    g = parser.add_argument_group("machine")
    g.add_argument("--arch", default="x86_64", choices=["x86_64", "aarch64"])
    g.add_argument("--machine", default=None, help="q35 (default), pc, or virt on aarch64")
    g.add_argument("--memory", default="256M", help="RAM size, e.g. 256M, 4G (default 256M)")
    g.add_argument("--device", action="append", default=[], metavar="DEV",
                   help="a QEMU -device string (repeatable), e.g. edu")
    g.add_argument("--firmware", default="bare", help="bare (default), seabios, or a file")
    g.add_argument("--accel", default="tcg", choices=["tcg", "kvm", "auto"],
                   help="tcg (default), kvm, or auto: kvm only if a probe guest really runs on it")


def spec_from_args(args: argparse.Namespace) -> MachineSpec:
    return MachineSpec(
        arch=args.arch,
        machine=args.machine,
        memory=args.memory,
        devices=list(args.device),
        firmware=args.firmware,
        accel=args.accel,
    )


def emit(args: argparse.Namespace, obj: Any, text: str) -> None:
    """Print JSON when --json was given, else the human text."""
    if getattr(args, "json", False):
        json.dump(obj, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


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
