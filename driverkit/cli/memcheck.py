"""`driverkit memcheck`: boot the real Linux guest with a configuration and compare it with memplan.

Exit status: 0 when every counted row agrees, 1 when the model and the kernel differ, 2 on bad
input or when the guest cannot be booted (not built, did not report in time). Which rows
count is defined in driverkit/guest/memcheck.py (vmalloc_max and X of Memory: are shown only).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from ..errors import ConfigError
from .common import (
    add_arm64_options,
    add_json,
    add_machine_options,
    add_model_options,
    add_svg,
    emit,
    write_svg,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "memcheck",
        help="boot the Linux guest with a memory configuration and compare it with memplan",
        description="Boot the real Linux guest (SeaBIOS, -nodefaults, TCG) with this machine, "
        "memory size and kernel command line; print the allocator model and the kernel side "
        "by side (/proc/iomem, BIOS-e820/user maps, zones, Memory: Y, carve-outs, limits, "
        "probes), each row agree, DIFFER or info. Exit 0 if they agree, 1 if not, 2 on bad input.",
    )
    add_machine_options(p)
    add_model_options(
        p,
        "a range dkprobe tests in the guest (request_mem_region, ioremap, memremap) and "
        "the model predicts, e.g. 0xF800000:8M (repeatable, at most 16)",
    )
    add_arm64_options(p)
    p.add_argument(
        "--kernel",
        metavar="RELEASE|VMLINUZ",
        help="boot and model this kernel: a release scripts/build-guest built (scripts/"
        "build-guest RELEASE), or a vmlinuz whose release was built so (default: the default "
        "guest)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds to wait for the guest's reports (default 120)",
    )
    add_svg(p, "the model and the kernel side by side, differences marked")
    add_json(p)
    p.set_defaults(func=run)


def guest_for(kernel: str):
    """The built guest for a release name, or for the release of a vmlinuz file."""
    import os

    from ..guest.artifacts import GuestArtifacts
    from ..mem.kernel import read_image

    release = read_image(kernel).release if os.path.isfile(kernel) else kernel
    return GuestArtifacts.locate(release=release)


def _progress(msg: str) -> None:
    print(f"memcheck: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from ..guest.memcheck import memcheck

    if args.timeout <= 0:
        raise ConfigError(f"--timeout must be positive, got {args.timeout:g}")
    if args.arch == "aarch64":
        return _run_arm64(args)
    if args.reserved_memory:
        raise ConfigError("--reserved-memory is for --arch aarch64 (x86 carves out with "
                          "memmap=)")
    if args.arch != "x86_64":
        raise ConfigError(f"memcheck boots the x86_64 (pc, q35) or aarch64 (virt) Linux "
                          f"guest, not {args.arch}")
    if args.firmware not in ("bare", "seabios"):
        raise ConfigError(f"memcheck boots the guest with SeaBIOS; --firmware {args.firmware!r} "
                          f"is not supported")
    if args.device:
        raise ConfigError("memcheck models driverkit's -nodefaults guest; extra --device "
                          "options are not supported (their BARs are not modelled)")
    art = guest_for(args.kernel) if args.kernel else None
    result = asyncio.run(
        memcheck(
            args.machine or "q35",
            args.memory,
            args.cmdline,
            args.probe,
            timeout=args.timeout,
            strict=not args.lenient,
            accel=args.accel,
            progress=_progress,
            artifacts=art,
        )
    )
    write_svg(args, lambda: _svg(result))
    emit(args, result.to_dict(), result.to_text())
    return 0 if result.agree else 1


def _svg(result) -> str:
    from ..guest.memcheck_rows import kernel_carveouts
    from ..mem.svg import render_compare

    return render_compare(f"memcheck {result.machine} {result.memory >> 20}M  cmdline: "
                          f"{result.cmdline or '(empty)'}", result.plan.iomem.children,
                          result.plan.state.carveouts, result.report.iomem,
                          kernel_carveouts(result.report))


def _run_arm64(args: argparse.Namespace) -> int:
    from ..guest.memcheck_arm64 import memcheck_arm64
    from ..mem.dt import ReservedNode

    if (args.machine or "virt") != "virt":
        raise ConfigError(f"the arm64 guest boots on virt, not {args.machine!r}")
    if args.device:
        raise ConfigError("memcheck models the guest without extra --device options")
    if args.kernel:
        raise ConfigError("--kernel picks one of the x86 guests; the arm64 guest is one build "
                          "(guest/linux/build-arm64.sh)")
    if getattr(args, "svg", None):
        raise ConfigError("--svg draws the x86 maps; the arm64 model has no drawing yet")
    nodes = [ReservedNode.parse(t) for t in args.reserved_memory]
    result = asyncio.run(memcheck_arm64(args.memory, args.cmdline, args.probe, reserved=nodes,
                                        timeout=args.timeout, strict=not args.lenient,
                                        progress=_progress))
    emit(args, result.to_dict(), result.to_text())
    return 0 if result.agree else 1
