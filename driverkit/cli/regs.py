"""`driverkit regs DEVICE` / `driverkit check DEVICE`: probe a device with its driver, then print
its decoded registers, or run its register layout test (exit 0 only if the declaration holds).
Drivers come from the "driverkit.devices" entry-point group. With several devices of the
driver's kind, --bdf or --index picks one (an ambiguous choice is refused)."""

from __future__ import annotations

import argparse
from typing import Any

from ..drivers import load
from ..errors import ConfigError
from ..machine.spec import MachineSpec
from ..regs import format_dump
from .common import MACHINE_DEFAULTS, Outcome, add_machine_command, spec_from_args
from .described import described_body


def register(sub: argparse._SubParsersAction) -> None:
    for name, helptext in (
        ("regs", "decode a device's registers from its driver's RegisterMap"),
        ("check", "run a driver's register layout test against the live device"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("driver", metavar="DEVICE", nargs="?",
                       help="driver name, e.g. edu, hpet, fw_cfg, pl011 (entry-point group "
                       "driverkit.devices); with --svd the PERIPHERAL, with --rdl the addrmap")
        src = p.add_mutually_exclusive_group()
        src.add_argument("--svd", metavar="FILE", help="decode PERIPHERAL from a CMSIS-SVD file")
        src.add_argument("--rdl", metavar="FILE", help="decode an addrmap of a SystemRDL file")
        p.add_argument("--fixes", metavar="YAML",
                       help="svdtools-style fixes applied to the SVD file first")
        p.add_argument("--base", metavar="ADDR",
                       help="where the block sits (default: the SVD file's baseAddress; "
                       "with --bdf, the BAR)")
        p.add_argument("--bar", type=int, default=0, help="with --svd/--rdl and --bdf: which "
                       "BAR holds the block (default 0)")
        p.add_argument("--destructive", action="store_true",
                       help="also read/write registers with side effects (RC, W1C, WO, ...)")
        pick = p.add_mutually_exclusive_group()
        pick.add_argument("--bdf", help="the PCI function to use when there are several (00:03.0)")
        pick.add_argument("--index", type=int, help="the Nth such device (0-based)")
        add_machine_command(p, _body, spec_fn=_spec)
        p.set_defaults(arch=None)  # None: the driver's architecture


def _driver(args: argparse.Namespace) -> Any:
    return load(args.driver)


def _spec(args: argparse.Namespace) -> MachineSpec:
    if args.svd or args.rdl:
        return spec_from_args(_with_default_arch(args))
    driver = _driver(args)
    arch = args.arch or driver.needs.arch
    if arch != driver.needs.arch:
        raise ConfigError(f"driver {driver.name!r} needs --arch {driver.needs.arch}, not {arch}")
    memory = args.memory
    if arch == "arm" and memory == MACHINE_DEFAULTS["memory"]:
        memory = None  # a 32-bit Arm board fixes its RAM; only an explicit --memory is passed on
    base = MachineSpec(arch=arch, machine=args.machine or driver.needs.machine, memory=memory,
                       devices=list(args.device), firmware=args.firmware, accel=args.accel)
    return driver.machine_spec(base)


async def _probe(m, args: argparse.Namespace) -> Any:
    """The driver bound to the chosen device; PCI ambiguity refused unless --bdf/--index."""
    from .pci import parse_bdf

    driver = _driver(args)
    has_pci = m.spec.arch != "arm"
    if has_pci:
        m.pci.select(parse_bdf(args.bdf) if args.bdf else args.index, strict=True)
    try:
        return await driver.probe(m)
    finally:
        if has_pci:
            m.pci.select(None, strict=False)


def _with_default_arch(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "arch": args.arch or "x86_64"})


async def _body(m, args: argparse.Namespace) -> Outcome:
    if args.svd or args.rdl:
        return await described_body(m, args)
    if not args.driver:
        raise ConfigError(f"{args.command}: name a DEVICE (a driver), or use --svd/--rdl")
    for opt in ("fixes", "base"):
        if getattr(args, opt):
            raise ConfigError(f"--{opt} goes with --svd or --rdl")
    drv = await _probe(m, args)
    info = drv.info()
    if args.command == "regs":
        d = drv.dump(destructive=args.destructive)
        text = format_dump(d)
        for extra in d.get("extra", {}).values():
            text += "\n" + format_dump(extra)
        return Outcome({"device": args.driver, "info": info, **d}, text)
    report = drv.check(destructive=args.destructive)
    return Outcome({"device": args.driver, "info": info, **report.to_dict()}, str(report),
                   0 if report.ok else 1)
