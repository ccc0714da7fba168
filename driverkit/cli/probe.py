"""`driverkit probe`: list PCI devices with their BARs and the flat memory map."""

from __future__ import annotations

import argparse

from ..pci.names import pci_ids
from .common import Outcome, add_machine_command
from .pci import pci_devices


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probe", help="list PCI devices with BARs and the flat memory map")
    add_machine_command(p, body)


async def body(m, args: argparse.Namespace) -> Outcome:
    ids = pci_ids()
    pci = pci_devices(m) if m.spec.arch in ("x86_64", "aarch64") else []  # M-profile: none
    devices = [{**d.to_dict(), "name": ids.device_name(d.vendor, d.device),
                "class_name": ids.class_name(d.class_code)} for d in pci]
    memory = [
        {"start": r.start, "end": r.end, "kind": r.kind, "backing": r.backing, "name": r.name}
        for r in m.flat.ranges
    ]
    info = {"machine": m.spec.machine, "arch": m.spec.arch, "memory": m.spec.memory_bytes,
            "pci": devices, "memory_map": memory}
    return Outcome(info, _text(info))


def _text(info: dict) -> str:
    lines = [f"{info['arch']} {info['machine']}, {info['memory'] >> 20} MiB RAM", "", "PCI devices:"]
    for d in info["pci"]:
        lines.append(f"  {d['address']}  {d['vendor']:04x}:{d['device']:04x}  class {d['class']:06x}"
                     f"  {d['class_name']}: {d['name']}")
        for c in d["capabilities"]:
            lines.append(f"      capability [{c['offset']:02x}] {c['name']}")
        for b in d["bars"]:
            kind = "I/O" if b["kind"] == "io" else ("64-bit mem" if b["is64"] else "mem")
            lines.append(f"      BAR{b['index']}: {kind} at {b['address']:#x} size {b['size']:#x}")
    lines += ["", "Memory map (QEMU flat view):"]
    for r in info["memory_map"]:
        lines.append(f"  {r['start']:016x}-{r['end']:016x}  {r['backing']:<5} {r['name']}")
    return "\n".join(lines)
