"""One PCI function: identity, BARs (sized once), enable with read-back, iomap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import BoundsError, PciError
from ..io.iomem import IoMem
from .config import ConfigAccess

if TYPE_CHECKING:
    from ..machine.machine import Machine

VENDOR_ID, DEVICE_ID, COMMAND, STATUS = 0x00, 0x02, 0x04, 0x06
CLASS_REV, HEADER_TYPE, BAR0, INTERRUPT_LINE, INTERRUPT_PIN = 0x08, 0x0E, 0x10, 0x3C, 0x3D
CMD_IO, CMD_MEMORY, CMD_MASTER = 0x1, 0x2, 0x4


@dataclass
class Bar:
    """A sized base address register: kind "mem" or "io", 64-bit or not, address once assigned."""

    index: int
    kind: str
    size: int
    is64: bool = False
    prefetchable: bool = False
    address: int = 0

    def to_json(self) -> dict:
        return {"index": self.index, "kind": self.kind, "size": self.size, "is64": self.is64,
                "prefetchable": self.prefetchable, "address": self.address}


class PciDevice:
    """A function at bus:dev.fn, reached through a ConfigAccess."""

    def __init__(self, machine: "Machine", cfg: ConfigAccess, bdf: tuple[int, int, int]) -> None:
        self.machine = machine
        self.cfg = cfg
        self.bdf = bdf
        self.vendor = self.read_config(VENDOR_ID, 2)
        self.device = self.read_config(DEVICE_ID, 2)
        class_rev = self.read_config(CLASS_REV, 4)
        self.revision = class_rev & 0xFF
        self.class_code = class_rev >> 8
        self.header_type = self.read_config(HEADER_TYPE, 1) & 0x7F
        self.bars: dict[int, Bar] = {}

    @property
    def address(self) -> str:
        bus, dev, fn = self.bdf
        return f"{bus:02x}:{dev:02x}.{fn}"

    def __repr__(self) -> str:
        return f"<PciDevice {self.address} {self.vendor:04x}:{self.device:04x}>"

    def read_config(self, offset: int, width: int = 4) -> int:
        return self.cfg.read(self.bdf, offset, width)

    def write_config(self, offset: int, width: int, value: int) -> None:
        self.cfg.write(self.bdf, offset, width, value)

    # --- BARs -----------------------------------------------------------------------------

    def size_bars(self) -> dict[int, Bar]:
        """Size every BAR (decoding off while probing, then restored)."""
        if self.header_type != 0:
            n_bars = 2 if self.header_type == 1 else 0
        else:
            n_bars = 6
        cmd = self.read_config(COMMAND, 2)
        self.write_config(COMMAND, 2, cmd & ~(CMD_IO | CMD_MEMORY))
        bars: dict[int, Bar] = {}
        i = 0
        while i < n_bars:
            off = BAR0 + 4 * i
            orig = self.read_config(off, 4)
            self.write_config(off, 4, 0xFFFFFFFF)
            probe = self.read_config(off, 4)
            self.write_config(off, 4, orig)
            if probe in (0, 0xFFFFFFFF) and orig == 0:
                i += 1
                continue
            if probe & 1:
                mask = probe & 0xFFFFFFFC & 0xFFFF
                size = (~mask & 0xFFFF) + 1 if mask else 0
                if size:
                    bars[i] = Bar(i, "io", size, address=orig & 0xFFFFFFFC)
                i += 1
                continue
            is64 = (probe >> 1) & 3 == 2
            mask = probe & 0xFFFFFFF0
            address = orig & 0xFFFFFFF0
            if is64:
                hi_orig = self.read_config(off + 4, 4)
                self.write_config(off + 4, 4, 0xFFFFFFFF)
                hi = self.read_config(off + 4, 4)
                self.write_config(off + 4, 4, hi_orig)
                mask |= hi << 32
                address |= hi_orig << 32
                size = ((~mask) & ((1 << 64) - 1)) + 1 if mask else 0
            else:
                size = ((~mask) & 0xFFFFFFFF) + 1 if mask else 0
            if size:
                bars[i] = Bar(i, "mem", size, is64, bool(probe & 8), address)
            i += 2 if is64 else 1
        self.write_config(COMMAND, 2, cmd)
        self.bars = bars
        return bars

    def set_bar_address(self, index: int, address: int) -> None:
        """Program a BAR (both halves for 64-bit) and check it reads back."""
        bar = self.bars[index]
        if address % bar.size:
            raise PciError(f"BAR{index} address {address:#x} not aligned to its size {bar.size:#x}")
        off = BAR0 + 4 * index
        self.write_config(off, 4, address & 0xFFFFFFFF)
        if bar.is64:
            self.write_config(off + 4, 4, address >> 32)
        got = self.read_config(off, 4) & (0xFFFFFFFC if bar.kind == "io" else 0xFFFFFFF0)
        if bar.is64:
            got |= self.read_config(off + 4, 4) << 32
        if got != address:
            raise PciError(f"{self.address} BAR{index}: wrote {address:#x}, reads back {got:#x}")
        bar.address = address

    # --- enable and map -------------------------------------------------------------------

    def enable(self, master: bool = True) -> None:
        """Turn on memory/I/O decoding (and bus mastering) and verify it by reading back."""
        want = 0
        for bar in self.bars.values():
            want |= CMD_IO if bar.kind == "io" else CMD_MEMORY
        if master:
            want |= CMD_MASTER
        cmd = self.read_config(COMMAND, 2)
        self.write_config(COMMAND, 2, cmd | want)
        got = self.read_config(COMMAND, 2)
        if got & want != want:
            raise PciError(
                f"{self.address}: COMMAND wrote {cmd | want:#06x}, reads back {got:#06x}"
            )
        for bar in self.bars.values():
            if bar.kind == "mem" and bar.address:
                self.machine.add_mmio_overlay((self.bdf, bar.index), bar.address, bar.size)

    def disable(self) -> None:
        cmd = self.read_config(COMMAND, 2)
        self.write_config(COMMAND, 2, cmd & ~(CMD_IO | CMD_MEMORY | CMD_MASTER))
        for bar in self.bars.values():
            self.machine.remove_mmio_overlay((self.bdf, bar.index))

    def iomap(self, index: int) -> IoMem:
        """An IoMem over BAR `index` (MMIO or I/O ports), like pci_iomap."""
        bar = self.bars.get(index)
        if bar is None:
            have = ", ".join(str(i) for i in sorted(self.bars)) or "none"
            raise BoundsError(f"{self.address} has no BAR{index} (BARs: {have})")
        if not bar.address:
            raise PciError(f"{self.address} BAR{index} is not assigned")
        name = f"{self.address} BAR{index}"
        if bar.kind == "io":
            return self.machine.ioport_map(bar.address, bar.size, name=name)
        return self.machine.ioremap(bar.address, bar.size, name=name)

    def to_json(self) -> dict:
        return {
            "address": self.address,
            "vendor": self.vendor,
            "device": self.device,
            "class": self.class_code,
            "revision": self.revision,
            "bars": [b.to_json() for b in self.bars.values()],
        }
