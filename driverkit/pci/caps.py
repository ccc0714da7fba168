"""The capability list (config 0x34 chain): generic entries plus decoded MSI and MSI-X."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import PciError

STATUS_CAP_LIST = 0x10
CAPABILITY_POINTER = 0x34
CAP_PM, CAP_MSI, CAP_VNDR, CAP_EXP, CAP_MSIX = 0x01, 0x05, 0x09, 0x10, 0x11
CAP_SLOTID, CAP_HOTPLUG, CAP_SSVID, CAP_SATA = 0x04, 0x0C, 0x0D, 0x12
CAP_NAMES = {CAP_PM: "Power Management", CAP_MSI: "MSI", CAP_VNDR: "Vendor Specific",
             CAP_SSVID: "Bridge subsystem vendor", CAP_SLOTID: "Slot ID", CAP_HOTPLUG: "Hot-plug",
             CAP_SATA: "SATA", CAP_EXP: "PCI Express", CAP_MSIX: "MSI-X"}
MAX_CAPS = 48  # (256 - 64) / 4: a longer chain is a loop

ReadFn = Callable[[int, int], int]


@dataclass
class Capability:
    """One entry of the list: its ID and config-space offset."""

    id: int
    offset: int
    name: str = ""

    def to_dict(self) -> dict:
        return {"id": self.id, "offset": self.offset, "name": self.name}


@dataclass
class MsiCapability(Capability):
    """MSI: 32/64-bit message address, up to 2**multiple_message_capable vectors."""

    control: int = 0
    is64: bool = False
    per_vector_mask: bool = False
    vectors: int = 1

    @property
    def enabled(self) -> bool:
        return bool(self.control & 1)

    @property
    def address_lo(self) -> int:
        return self.offset + 4

    @property
    def data_offset(self) -> int:
        """Config offset of the 16-bit message data register."""
        return self.offset + (0xC if self.is64 else 0x8)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "is64": self.is64, "vectors": self.vectors,
                "per_vector_mask": self.per_vector_mask}


@dataclass
class MsixCapability(Capability):
    """MSI-X: table and pending-bit array, each in a BAR at an offset."""

    control: int = 0
    table_size: int = 0
    table_bar: int = 0
    table_offset: int = 0
    pba_bar: int = 0
    pba_offset: int = 0

    def to_dict(self) -> dict:
        return {**super().to_dict(), "table_size": self.table_size, "table_bar": self.table_bar,
                "table_offset": self.table_offset, "pba_bar": self.pba_bar,
                "pba_offset": self.pba_offset}


def _decode(cap_id: int, off: int, read: ReadFn) -> Capability:
    name = CAP_NAMES.get(cap_id, f"cap {cap_id:#04x}")
    if cap_id == CAP_MSI:
        ctl = read(off + 2, 2)
        return MsiCapability(cap_id, off, name, control=ctl, is64=bool(ctl & 0x80),
                             per_vector_mask=bool(ctl & 0x100), vectors=1 << ((ctl >> 1) & 7))
    if cap_id == CAP_MSIX:
        ctl = read(off + 2, 2)
        table = read(off + 4, 4)
        pba = read(off + 8, 4)
        return MsixCapability(cap_id, off, name, control=ctl, table_size=(ctl & 0x7FF) + 1,
                              table_bar=table & 7, table_offset=table & ~7,
                              pba_bar=pba & 7, pba_offset=pba & ~7)
    return Capability(cap_id, off, name)


def walk_capabilities(read: ReadFn, status: int, where: str = "") -> list[Capability]:
    """Follow the chain from 0x34; refuse loops and pointers into the header."""
    caps: list[Capability] = []
    if not status & STATUS_CAP_LIST:
        return caps
    off = read(CAPABILITY_POINTER, 1) & 0xFC
    seen: set[int] = set()
    while off:
        if off < 0x40 or off in seen or len(seen) >= MAX_CAPS:
            raise PciError(f"{where}: broken capability list (pointer {off:#x} after "
                           f"{', '.join(hex(s) for s in seen) or 'the header'})")
        seen.add(off)
        head = read(off, 2)
        caps.append(_decode(head & 0xFF, off, read))
        off = (head >> 8) & 0xFC
    return caps
