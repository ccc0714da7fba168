"""`driverkit lspci [-v] [-n] [-s BDF]` and `driverkit setpci -s BDF REG[.B|.W|.L][=VALUE[:MASK]]`,
in pciutils' syntax and output (names from pci.ids; see driverkit.pci.names).

IRQ in `lspci -v` is where driverkit routes the function's INTx (IOAPIC GSI / GIC SPI): the
number `m.irq` waits on, which is what Linux would show once it routed the pin the same way.
"""

from __future__ import annotations

import argparse
import re

from ..errors import ConfigError, DeviceNotFound, PciError
from ..pci.names import pci_ids
from .common import Outcome, add_machine_command

# setpci's register names: (offset, width in bytes)
NAMES = {
    "VENDOR_ID": (0x00, 2), "DEVICE_ID": (0x02, 2), "COMMAND": (0x04, 2), "STATUS": (0x06, 2),
    "REVISION": (0x08, 1), "CLASS_PROG": (0x09, 1), "CLASS_DEVICE": (0x0A, 2),
    "CACHE_LINE_SIZE": (0x0C, 1), "LATENCY_TIMER": (0x0D, 1), "HEADER_TYPE": (0x0E, 1),
    "BIST": (0x0F, 1), **{f"BASE_ADDRESS_{i}": (0x10 + 4 * i, 4) for i in range(6)},
    "CARDBUS_CIS": (0x28, 4), "SUBSYSTEM_VENDOR_ID": (0x2C, 2), "SUBSYSTEM_ID": (0x2E, 2),
    "ROM_ADDRESS": (0x30, 4), "CAPABILITIES": (0x34, 1), "INTERRUPT_LINE": (0x3C, 1),
    "INTERRUPT_PIN": (0x3D, 1), "MIN_GNT": (0x3E, 1), "MAX_LAT": (0x3F, 1),
}
SUFFIX = {"B": 1, "W": 2, "L": 4}
CAPS = {"CAP_PM": 0x01, "CAP_AGP": 0x02, "CAP_VPD": 0x03, "CAP_SLOTID": 0x04, "CAP_MSI": 0x05,
        "CAP_CHSWP": 0x06, "CAP_PCIX": 0x07, "CAP_HT": 0x08, "CAP_VNDR": 0x09, "CAP_DBG": 0x0A,
        "CAP_CCRC": 0x0B, "CAP_HOTPLUG": 0x0C, "CAP_SSVID": 0x0D, "CAP_AGP3": 0x0E,
        "CAP_SECURE": 0x0F, "CAP_EXP": 0x10, "CAP_MSIX": 0x11, "CAP_SATA": 0x12, "CAP_AF": 0x13}
OP_RE = re.compile(r"^(?P<reg>[A-Za-z0-9_]+)(?:\+(?P<rel>[0-9a-fA-F]+))?(?:\.(?P<w>[BbWwLl]))?"
                   r"(?:=(?P<val>[^:]+)(?::(?P<mask>.+))?)?$")
BDF_RE = re.compile(r"^(?:(?:(?P<dom>[0-9a-fA-F]{1,4}):)?(?P<bus>[0-9a-fA-F]{1,2}):)?"
                    r"(?P<dev>[0-9a-fA-F]{1,2})(?:\.(?P<fn>[0-7]))?$")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lspci", help="list PCI devices as pciutils' lspci prints them")
    p.add_argument("-v", dest="verbose", action="store_true",
                   help="details: subsystem, flags, IRQ, BARs, capabilities")
    p.add_argument("-n", dest="numeric", action="count", default=0,
                   help="numeric IDs (-nn: names and numbers)")
    p.add_argument("-s", dest="slot", metavar="[[DOMAIN:]BUS:]DEV[.FN]",
                   help="only this function")
    p.add_argument("-d", dest="ids", metavar="[VENDOR]:[DEVICE]", help="only these IDs")
    add_machine_command(p, lspci_body)
    p = sub.add_parser("setpci", help="read/write PCI config registers as pciutils' setpci",
                       description="REG is a hex offset or a name (COMMAND, BASE_ADDRESS_0...), "
                       "optionally .B/.W/.L; =VALUE writes (hex, as setpci), =VALUE:MASK only "
                       "the bits in MASK. Reads print the value in hex, as setpci does.")
    p.add_argument("-s", dest="slot", metavar="[[DOMAIN:]BUS:]DEV[.FN]", help="the function")
    p.add_argument("-d", dest="ids", metavar="[VENDOR]:[DEVICE]", help="the function by IDs")
    p.add_argument("ops", nargs="+", metavar="REG[.B|.W|.L][=VALUE[:MASK]]")
    add_machine_command(p, setpci_body)


def parse_bdf(text: str) -> str:
    """"3.0", "00:03.0", "0000:00:03.0" -> "00:03.0" (domain 0 only, as on QEMU's buses)."""
    m = BDF_RE.match(text.strip())
    if not m:
        raise ConfigError(f"-s {text!r}: expected [[domain:]bus:]device[.function] in hex")
    if m["dom"] and int(m["dom"], 16) != 0:
        raise DeviceNotFound(f"-s {text}: no PCI domain {m['dom']} (there is only domain 0000)")
    return f"{int(m['bus'] or '0', 16):02x}:{int(m['dev'], 16):02x}.{int(m['fn'] or '0')}"


def _parse_ids(text: str) -> tuple[int | None, int | None]:
    vendor, sep, device = text.partition(":")
    if not sep:
        raise ConfigError(f"-d {text!r}: expected [vendor]:[device] in hex")
    try:
        return (int(vendor, 16) if vendor else None, int(device, 16) if device else None)
    except ValueError:
        raise ConfigError(f"-d {text!r}: expected [vendor]:[device] in hex") from None


def pci_devices(m) -> list:
    """The machine's PCI functions; PciError on a board that has no PCI (the M-profile ones)."""
    if m.spec.arch not in ("x86_64", "aarch64"):
        raise PciError(f"{m.spec.arch} {m.spec.machine} has no PCI bus")
    return list(m.pci)


def _select(m, args: argparse.Namespace, one: bool) -> list:
    devs = pci_devices(m)
    if args.slot:
        want = parse_bdf(args.slot)
        devs = [d for d in devs if d.address == want]
        if not devs:
            raise DeviceNotFound(f"no PCI function at {want} (present: "
                                 f"{', '.join(d.address for d in pci_devices(m))})")
    if args.ids:
        v, d = _parse_ids(args.ids)
        devs = [x for x in devs if (v is None or x.vendor == v) and (d is None or x.device == d)]
        if not devs:
            raise DeviceNotFound(f"no PCI function matches -d {args.ids}")
    if one:
        if not (args.slot or args.ids):
            raise ConfigError("setpci needs -s BDF or -d VENDOR:DEVICE")
        if len(devs) > 1:
            raise DeviceNotFound(f"-d {args.ids} matches {len(devs)} functions "
                                 f"({', '.join(d.address for d in devs)}): pick one with -s")
    return devs


# --- lspci ------------------------------------------------------------------------------------

def _size(n: int) -> str:
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def _title(d, numeric: int) -> str:
    ids = pci_ids()
    cls = d.class_code >> 8
    rev = f" (rev {d.revision:02x})" if d.revision else ""
    if numeric == 1:
        return f"{d.address} {cls:04x}: {d.vendor:04x}:{d.device:04x}{rev}"
    name = ids.device_name(d.vendor, d.device)
    cname = ids.class_name(d.class_code)
    if numeric >= 2:
        if not cname.endswith("]"):
            cname += f" [{cls:04x}]"
        return f"{d.address} {cname}: {name} [{d.vendor:04x}:{d.device:04x}]{rev}"
    return f"{d.address} {cname}: {name}{rev}"


def _bar_line(d, bar, cmd: int) -> str:
    if bar.kind == "io":
        where = f"{bar.address:x}" if bar.address else "<unassigned>"
        off = "" if cmd & 1 else " [disabled]"
        return f"I/O ports at {where}{off} [size={_size(bar.size)}]"
    bits = "64-bit" if bar.is64 else "32-bit"
    pref = "prefetchable" if bar.prefetchable else "non-prefetchable"
    where = f"{bar.address:x}" if bar.address else "<unassigned>"
    off = "" if cmd & 2 else " [disabled]"
    return f"Memory at {where} ({bits}, {pref}){off} [size={_size(bar.size)}]"


def _cap_line(d, cap) -> str:
    from ..pci.caps import MsiCapability, MsixCapability

    if isinstance(cap, MsiCapability):
        ctl = d.read_config(cap.offset + 2, 2)
        count = f"{1 << ((ctl >> 4) & 7)}/{cap.vectors}"
        return (f"[{cap.offset:02x}] MSI: Enable{'+' if ctl & 1 else '-'} Count={count} "
                f"Maskable{'+' if cap.per_vector_mask else '-'} 64bit{'+' if cap.is64 else '-'}")
    if isinstance(cap, MsixCapability):
        ctl = d.read_config(cap.offset + 2, 2)
        return (f"[{cap.offset:02x}] MSI-X: Enable{'+' if ctl & 0x8000 else '-'} "
                f"Count={cap.table_size} Masked{'+' if ctl & 0x4000 else '-'}")
    return f"[{cap.offset:02x}] {cap.name}"


def _verbose(d) -> tuple[list[str], dict]:
    ids = pci_ids()
    cmd = d.read_config(0x04, 2)
    status = d.read_config(0x06, 2)
    lines, extra = [], {}
    if not d.is_bridge:
        sv, sd = d.read_config(0x2C, 2), d.read_config(0x2E, 2)
        if sv not in (0, 0xFFFF):
            lines.append(f"Subsystem: {ids.subsystem_name(d.vendor, d.device, sv, sd)}")
            extra["subsystem"] = {"vendor": sv, "device": sd}
    flags = []
    if cmd & 4:
        flags.append("bus master")
    flags.append(("fast", "medium", "slow", "?")[(status >> 9) & 3] + " devsel")
    if cmd & 4:
        flags.append(f"latency {d.read_config(0x0D, 1)}")
    irq = None
    if d.irq_pin:
        try:
            irq = d.irq_line()
            flags.append(f"IRQ {irq}")
        except PciError:
            pass
    extra["irq"] = irq
    lines.append("Flags: " + ", ".join(flags))
    for bar in d.bars.values():
        lines.append(_bar_line(d, bar, cmd))
    if d.is_bridge:
        lines.append(f"Bus: primary={d.read_config(0x18, 1):02x}, "
                     f"secondary={d.secondary_bus:02x}, subordinate={d.subordinate_bus:02x}")
    for cap in d.capabilities:
        lines.append("Capabilities: " + _cap_line(d, cap))
    return lines, extra


async def lspci_body(m, args: argparse.Namespace) -> Outcome:
    out, objs = [], []
    for d in _select(m, args, one=False):
        obj = d.to_dict()
        ids = pci_ids()
        obj.update(vendor_name=ids.vendor(d.vendor), device_name=ids.device_name(d.vendor, d.device),
                   class_name=ids.class_name(d.class_code))
        out.append(_title(d, args.numeric))
        if args.verbose:
            lines, extra = _verbose(d)
            obj.update(extra)
            out += ["\t" + x for x in lines] + [""]
        objs.append(obj)
    return Outcome({"devices": objs, "pci_ids": pci_ids().path}, "\n".join(out).rstrip("\n"))


# --- setpci -----------------------------------------------------------------------------------

def _hex(text: str, what: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a hex number (setpci values are hex)") from None


def parse_op(op: str) -> tuple[int, int, int | None, int | None, int | None]:
    """REG[+OFF][.B|.W|.L][=VALUE[:MASK]] -> (offset, width, value, mask, capability id);
    with a capability (CAP_MSI+2.w) the offset is relative to it."""
    m = OP_RE.match(op)
    if not m:
        raise ConfigError(f"{op!r}: expected REG[.B|.W|.L][=VALUE[:MASK]]")
    reg, cap = m["reg"].upper(), None
    if reg in CAPS:
        cap, offset, width = CAPS[reg], int(m["rel"] or "0", 16), 0
    elif m["rel"]:
        raise ConfigError(f"{op!r}: +OFFSET goes with a capability name ({', '.join(CAPS)})")
    elif reg in NAMES:
        offset, width = NAMES[reg]
    else:
        offset, width = _hex(m["reg"], "register"), 0
    if m["w"]:
        width = SUFFIX[m["w"].upper()]
    if not width:
        raise ConfigError(f"{op!r}: a register given by offset needs a width (.B, .W or .L)")
    if cap is None:
        _check_offset(op, offset, width)
    value = _hex(m["val"], "value") if m["val"] is not None else None
    mask = _hex(m["mask"], "mask") if m["mask"] is not None else None
    full = (1 << (8 * width)) - 1
    for what, v in (("value", value), ("mask", mask)):
        if v is not None and v > full:
            raise ConfigError(f"{op!r}: {what} {v:#x} does not fit in {width * 8} bits")
    return offset, width, value, mask, cap


def _check_offset(op: str, offset: int, width: int) -> None:
    if offset % width or offset + width > 0x1000:
        raise ConfigError(f"{op!r}: offset {offset:#x} is not a {width}-byte aligned register "
                          "in the 4 KiB config space")


def _resolve(d, op: str, offset: int, width: int, cap: int | None) -> int:
    """The config offset of an operation on `d` (a capability's base added)."""
    if cap is None:
        return offset
    found = [c for c in d.capabilities if c.id == cap]
    if not found:
        have = ", ".join(f"{c.name} [{c.offset:02x}]" for c in d.capabilities) or "none"
        raise DeviceNotFound(f"{op!r}: {d.address} has no capability {cap:#04x} "
                             f"(capabilities: {have})")
    _check_offset(op, found[0].offset + offset, width)
    return found[0].offset + offset


async def setpci_body(m, args: argparse.Namespace) -> Outcome:
    ops = [parse_op(op) for op in args.ops]  # all checked before anything is written
    (d,) = _select(m, args, one=True)
    offsets = [_resolve(d, op, o[0], o[1], o[4]) for op, o in zip(args.ops, ops)]
    text, results = [], []
    for op, offset, (_, width, value, mask, _) in zip(args.ops, offsets, ops):
        if value is None:
            got = d.read_config(offset, width)
            text.append(f"{got:0{2 * width}x}")
            results.append({"op": op, "offset": offset, "width": width, "value": got})
            continue
        if mask is not None:
            value = (d.read_config(offset, width) & ~mask) | (value & mask)
        d.write_config(offset, width, value)
        results.append({"op": op, "offset": offset, "width": width, "written": value,
                        "readback": d.read_config(offset, width)})
    if any(o[2] is not None for o in ops):
        await m.refresh_memory_map()  # a COMMAND or BAR write can map or unmap MMIO
    return Outcome({"device": d.address, "ops": results}, "\n".join(text))
