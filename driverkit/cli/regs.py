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
from .common import Outcome, add_machine_command


def register(sub: argparse._SubParsersAction) -> None:
    for name, helptext in (
        ("regs", "decode a device's registers from its driver's RegisterMap"),
        ("check", "run a driver's register layout test against the live device"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("driver", metavar="DEVICE", help="driver name, e.g. edu, hpet, fw_cfg, pl011 "
                                      "(entry-point group driverkit.devices)")
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
    driver = _driver(args)
    arch = args.arch or driver.needs.arch
    if arch != driver.needs.arch:
        raise ConfigError(f"driver {driver.name!r} needs --arch {driver.needs.arch}, not {arch}")
    base = MachineSpec(arch=arch, machine=args.machine or driver.needs.machine, memory=args.memory,
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


async def _body(m, args: argparse.Namespace) -> Outcome:
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
