"""One PCI function: identity, BARs (sized once), capabilities, INTx routing, enable, iomap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import BoundsError, PciError
from ..io.iomem import IoMem
from .caps import Capability, walk_capabilities
from .config import ConfigAccess

if TYPE_CHECKING:
    from .host import PciHost
    from .platform import PciPlatform

VENDOR_ID, DEVICE_ID, COMMAND, STATUS = 0x00, 0x02, 0x04, 0x06
CLASS_REV, HEADER_TYPE, BAR0, INTERRUPT_LINE, INTERRUPT_PIN = 0x08, 0x0E, 0x10, 0x3C, 0x3D
PRIMARY_BUS, SECONDARY_BUS, SUBORDINATE_BUS = 0x18, 0x19, 0x1A
CMD_IO, CMD_MEMORY, CMD_MASTER = 0x1, 0x2, 0x4
HEADER_NORMAL, HEADER_BRIDGE = 0, 1


@dataclass
class Bar:
    """A sized base address register: kind "mem" or "io", 64-bit or not, address once assigned.

    For "io" BARs `address` is the port number (on arm it is an offset in the PIO window).
    """

    index: int
    kind: str
    size: int
    is64: bool = False
    prefetchable: bool = False
    address: int = 0

    @property
    def window(self) -> str:
        """Which bridge window must hold it: "io", "mem" or "pref" (64-bit prefetchable)."""
        if self.kind == "io":
            return "io"
        return "pref" if self.prefetchable and self.is64 else "mem"

    def to_dict(self) -> dict:
        return {"index": self.index, "kind": self.kind, "size": self.size, "is64": self.is64,
                "prefetchable": self.prefetchable, "address": self.address}


class PciDevice:
    """A function at bus:dev.fn, reached through a ConfigAccess."""

    def __init__(self, host: "PciHost", cfg: ConfigAccess, bdf: tuple[int, int, int],
                 parent: "PciDevice | None" = None,
                 platform: "PciPlatform | None" = None) -> None:
        self.host = host
        self.cfg = cfg
        self.bdf = bdf
        self.parent = parent  # the bridge upstream of this function's bus (None on bus 0)
        self.platform = platform
        self.vendor = self.read_config(VENDOR_ID, 2)
        self.device = self.read_config(DEVICE_ID, 2)
        class_rev = self.read_config(CLASS_REV, 4)
        self.revision = class_rev & 0xFF
        self.class_code = class_rev >> 8
        self.header_type = self.read_config(HEADER_TYPE, 1) & 0x7F
        self.irq_pin = self.read_config(INTERRUPT_PIN, 1) if self.header_type <= 1 else 0
        self.bars: dict[int, Bar] = {}
        self.capabilities: list[Capability] = walk_capabilities(
            lambda off, width: self.read_config(off, width), self.read_config(STATUS, 2),
            self.address)
        self.children: list[PciDevice] = []  # functions on the secondary bus of a bridge

    @property
    def address(self) -> str:
        bus, dev, fn = self.bdf
        return f"{bus:02x}:{dev:02x}.{fn}"

    @property
    def slot(self) -> int:
        return self.bdf[1]

    @property
    def function(self) -> int:
        return self.bdf[2]

    @property
    def is_bridge(self) -> bool:
        return self.header_type == HEADER_BRIDGE

    @property
    def secondary_bus(self) -> int:
        return self.read_config(SECONDARY_BUS, 1) if self.is_bridge else 0

    @property
    def subordinate_bus(self) -> int:
        return self.read_config(SUBORDINATE_BUS, 1) if self.is_bridge else 0

    def __repr__(self) -> str:
        return f"<PciDevice {self.address} {self.vendor:04x}:{self.device:04x}>"

    def read_config(self, offset: int, width: int = 4) -> int:
        return self.cfg.read(self.bdf, offset, width)

    def write_config(self, offset: int, width: int, value: int) -> None:
        self.cfg.write(self.bdf, offset, width, value)

    # --- capabilities ---------------------------------------------------------------------

    def find_capability(self, cap_id: int) -> Capability | None:
        """The first capability with this ID (e.g. caps.CAP_MSI), or None (pci_find_capability)."""
        for cap in self.capabilities:
            if cap.id == cap_id:
                return cap
        return None

    # --- BARs -----------------------------------------------------------------------------

    def size_bars(self) -> dict[int, Bar]:
        """Size every BAR (decoding off while probing, then restored)."""
        cmd = self.read_config(COMMAND, 2)
        self.write_config(COMMAND, 2, cmd & ~(CMD_IO | CMD_MEMORY))
        try:
            self.bars = self._probe_bars()
        finally:  # decoding comes back on even when a BAR is refused
            self.write_config(COMMAND, 2, cmd)
        return self.bars

    def _probe_bars(self) -> dict[int, Bar]:
        """Write all-ones to each BAR, read the size mask, restore it (decoding must be off)."""
        n_bars = {HEADER_NORMAL: 6, HEADER_BRIDGE: 2}.get(self.header_type, 0)
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
                    bars[i] = Bar(i, "io", size, address=orig & 0xFFFC)
                i += 1
                continue
            is64 = (probe >> 1) & 3 == 2
            if is64 and i + 1 >= n_bars:
                raise PciError(f"{self.address} BAR{i} is 64-bit but is the last BAR")
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
        return bars

    def set_bar_address(self, index: int, address: int) -> None:
        """Program a BAR (both halves for 64-bit) and check it reads back."""
        bar = self.bars[index]
        if address % bar.size:
            raise PciError(f"BAR{index} address {address:#x} not aligned to its size {bar.size:#x}")
        if not bar.is64 and address + bar.size > 1 << 32:
            raise PciError(f"{self.address} BAR{index} is 32-bit; {address:#x} is above 4 GiB")
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

    def _set_command(self, want: int) -> None:
        cmd = self.read_config(COMMAND, 2)
        self.write_config(COMMAND, 2, cmd | want)
        got = self.read_config(COMMAND, 2)
        if got & want != want:
            raise PciError(
                f"{self.address}: COMMAND wrote {cmd | want:#06x}, reads back {got:#06x}"
            )

    def enable(self, master: bool = True) -> None:
        """Turn on memory/I/O decoding (and bus mastering) and verify it by reading back.

        Upstream bridges are enabled first (forwarding + mastering), like pci_enable_device.
        """
        if self.parent is not None:
            self.parent._enable_bridge()
        want = 0
        for bar in self.bars.values():
            want |= CMD_IO if bar.kind == "io" else CMD_MEMORY
        if master:
            want |= CMD_MASTER
        self._set_command(want)
        for bar in self.bars.values():
            base = self._mmio_base(bar)
            if bar.address and base is not None:
                self.host.add_mmio_overlay((self.bdf, bar.index), base, bar.size)

    def _enable_bridge(self) -> None:
        if self.parent is not None:
            self.parent._enable_bridge()
        self._set_command(CMD_IO | CMD_MEMORY | CMD_MASTER)

    def disable(self) -> None:
        cmd = self.read_config(COMMAND, 2)
        self.write_config(COMMAND, 2, cmd & ~(CMD_IO | CMD_MEMORY | CMD_MASTER))
        for bar in self.bars.values():
            self.host.remove_mmio_overlay((self.bdf, bar.index))

    @property
    def command(self) -> int:
        return self.read_config(COMMAND, 2)

    def iomap(self, index: int) -> IoMem:
        """An IoMem over BAR `index` (MMIO or I/O ports), like pci_iomap."""
        bar = self.bars.get(index)
        if bar is None:
            have = ", ".join(str(i) for i in sorted(self.bars)) or "none"
            raise BoundsError(f"{self.address} has no BAR{index} (BARs: {have})")
        if not bar.address:
            raise PciError(f"{self.address} BAR{index} is not assigned")
        name = f"{self.address} BAR{index}"
        base = self._mmio_base(bar)
        if base is None:
            return self.host.ioport_map(bar.address, bar.size, name=name)
        return self.host.ioremap(base, bar.size, name=name)

    def _mmio_base(self, bar: Bar) -> int | None:
        """The guest-physical address the CPU reaches `bar` at: a memory BAR's own, an I/O BAR's
        inside the PIO window where ports are MMIO-mapped (arm virt); None for x86 ports."""
        if bar.kind == "mem":
            return bar.address
        if self.platform is not None and self.platform.io_cpu_base is not None:
            return self.platform.io_cpu_base + bar.address
        return None

    # --- interrupts -----------------------------------------------------------------------

    def root_port_pin(self) -> tuple["PciDevice", int]:
        """The root-bus function and pin (0 = INTA) this function's INTx reaches, after the
        standard bridge swizzle (pin + slot) % 4 at every bridge on the way up."""
        if not self.irq_pin:
            raise PciError(f"{self.address} has no INTx pin (interrupt pin register is 0)")
        pin, dev = self.irq_pin - 1, self
        while dev.parent is not None:
            pin = (pin + dev.slot) % 4
            dev = dev.parent
        return dev, pin

    def irq_line(self) -> int:
        """The interrupt controller input (IOAPIC GSI on x86, GIC SPI on arm) where this
        function's INTx lands: the line number `m.irq.wait_raised()` takes."""
        if self.platform is None:
            raise PciError(f"{self.address}: no platform routing known")
        root, pin = self.root_port_pin()
        return self.platform.root_intx_line(root.slot, pin, self.cfg.read)

    def enable_msi(self, address: int, data: int) -> None:
        """Program and enable single-vector MSI: the device then writes `data` (32 bits, upper
        half zero) to `address` instead of asserting INTx. On x86 the kernel would use
        0xfee00000 (the APIC, invisible to qtest); a DMA buffer address makes it observable."""
        from .caps import CAP_MSI, MsiCapability

        cap = self.find_capability(CAP_MSI)
        if not isinstance(cap, MsiCapability):
            raise PciError(f"{self.address} has no MSI capability")
        if address % 4 or address < 0 or address >> (64 if cap.is64 else 32) or data >> 16:
            raise PciError(f"{self.address}: MSI address {address:#x} must be dword-aligned and "
                           f"fit {64 if cap.is64 else 32} bits; data {data:#x} 16 bits")
        self.write_config(cap.address_lo, 4, address & 0xFFFFFFFF)
        if cap.is64:
            self.write_config(cap.offset + 8, 4, address >> 32)
        self.write_config(cap.data_offset, 2, data)
        ctl = self.read_config(cap.offset + 2, 2) & ~0x70  # one vector
        self.write_config(cap.offset + 2, 2, ctl | 1)
        cap.control = self.read_config(cap.offset + 2, 2)
        if not cap.enabled:
            raise PciError(f"{self.address}: MSI enable bit does not stick")

    def disable_msi(self) -> None:
        from .caps import CAP_MSI, MsiCapability

        cap = self.find_capability(CAP_MSI)
        if isinstance(cap, MsiCapability):
            self.write_config(cap.offset + 2, 2, self.read_config(cap.offset + 2, 2) & ~1)
            cap.control = self.read_config(cap.offset + 2, 2)

    def to_dict(self) -> dict:
        out = {
            "address": self.address,
            "vendor": self.vendor,
            "device": self.device,
            "class": self.class_code,
            "revision": self.revision,
            "bars": [b.to_dict() for b in self.bars.values()],
            "capabilities": [c.to_dict() for c in self.capabilities],
            "irq_pin": self.irq_pin,
        }
        if self.is_bridge:
            out["secondary_bus"] = self.secondary_bus
            out["subordinate_bus"] = self.subordinate_bus
        return out
