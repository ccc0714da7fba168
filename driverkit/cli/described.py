"""`regs/check --svd FILE PERIPHERAL` and `--rdl FILE [ADDRMAP]`: a register description the
user already has, bound where the block sits on the live machine, decoded or checked."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ConfigError
from ..regs import dump, format_dump
from ..units import parse_int
from .common import Outcome


def load_map(args: argparse.Namespace) -> Any:
    if args.svd:
        from ..regs.svd import from_svd

        if not args.driver:
            from ..regs.svd import peripherals

            names = ", ".join(sorted(peripherals(args.svd, args.fixes)))
            raise ConfigError(f"--svd {args.svd}: name a PERIPHERAL; the file has: {names}")
        return from_svd(args.svd, args.driver, fixes=args.fixes)
    if args.fixes:
        raise ConfigError("--fixes patches SVD files; it does not apply to --rdl")
    from ..regs.rdl import from_rdl

    return from_rdl(args.rdl, args.driver)


def _where(m, args: argparse.Namespace, cls: Any) -> tuple[int, str]:
    if args.bdf or args.index is not None:
        from .pci import parse_bdf, pci_devices

        devs = pci_devices(m)
        if args.bdf:
            dev = m.pci.get(parse_bdf(args.bdf))
        else:
            if not 0 <= args.index < len(devs):
                raise ConfigError(f"--index {args.index}: there are {len(devs)} PCI functions")
            dev = devs[args.index]
        dev.enable(master=False)
        bar = dev.bars.get(args.bar)
        if bar is None or bar.kind != "mem":
            raise ConfigError(f"{dev.address} has no memory BAR{args.bar}")
        return bar.address, f"{dev.address} BAR{args.bar}"
    if args.base is not None:
        return parse_int(args.base, "--base"), "--base"
    if getattr(cls, "base_address", None) is None:
        raise ConfigError(f"{cls.source}: no base address in the description; give --base ADDR "
                          "or --bdf BDF [--bar N]")
    return cls.base_address, "the file's baseAddress"


async def described_body(m, args: argparse.Namespace) -> Outcome:
    cls = load_map(args)
    base, how = _where(m, args, cls)
    size = max(cls.extent(), 1)
    regs = cls(m.ioremap(base, size, name=cls.source))
    head = {"source": cls.source, "base": base, "base_from": how, "notes": cls.notes}
    if args.command == "regs":
        d = dump(regs, destructive=args.destructive)
        text = f"{cls.source} at {base:#x} ({how})\n" + format_dump(d)
        return Outcome({**d, **head}, text)
    report = cls.check(regs.iomem, destructive=args.destructive)
    text = f"{cls.source} at {base:#x} ({how})\n{report}"
    return Outcome({**report.to_dict(), **head}, text, 0 if report.ok else 1)
