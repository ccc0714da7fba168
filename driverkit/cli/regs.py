"""`driverkit regs DEVICE` / `driverkit check DEVICE`: launch the machine a driver needs, probe
the device, then print its decoded registers, or run its register layout test (exit 0 only
if the declaration holds). Drivers come from the "driverkit.devices" entry-point group."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ..drivers import load
from ..errors import ConfigError
from ..machine.machine import Machine
from ..machine.spec import MachineSpec
from ..regs import format_dump
from .common import add_json, add_machine_options, emit


def register(sub: argparse._SubParsersAction) -> None:
    for name, helptext, func in (
        ("regs", "decode a device's registers from its driver's RegisterMap", run_regs),
        ("check", "run a driver's register layout test against the live device", run_check),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("driver", metavar="DEVICE", help="driver name, e.g. edu, hpet, fw_cfg, pl011 "
                                      "(entry-point group driverkit.devices)")
        p.add_argument("--destructive", action="store_true",
                       help="also read/write registers with side effects (RC, W1C, WO, ...)")
        add_machine_options(p)
        p.set_defaults(arch=None)  # None: the driver's architecture
        add_json(p)
        p.set_defaults(func=func)


def _spec(args: argparse.Namespace, driver: Any) -> MachineSpec:
    arch = args.arch or driver.needs.arch
    if arch != driver.needs.arch:
        raise ConfigError(f"driver {driver.name!r} needs --arch {driver.needs.arch}, not {arch}")
    base = MachineSpec(arch=arch, machine=args.machine or driver.needs.machine, memory=args.memory,
                       devices=list(args.device), firmware=args.firmware, accel=args.accel)
    return driver.machine_spec(base)


async def _with_driver(args: argparse.Namespace, action: str) -> tuple[dict, str, bool]:
    driver = load(args.driver)
    spec = _spec(args, driver)
    async with Machine(spec) as m:
        drv = await driver.probe(m)
        info = drv.info()
        if action == "regs":
            d = drv.dump(destructive=args.destructive)
            text = format_dump(d)
            for extra in d.get("extra", {}).values():
                text += "\n" + format_dump(extra)
            return {"device": args.driver, "info": info, **d}, text, True
        report = drv.check(destructive=args.destructive)
        return {"device": args.driver, "info": info, **report.to_dict()}, str(report), report.ok


def run_regs(args: argparse.Namespace) -> int:
    obj, text, _ = asyncio.run(_with_driver(args, "regs"))
    emit(args, obj, text)
    return 0


def run_check(args: argparse.Namespace) -> int:
    obj, text, ok = asyncio.run(_with_driver(args, "check"))
    emit(args, obj, text)
    return 0 if ok else 1
