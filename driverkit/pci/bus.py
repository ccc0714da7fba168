"""PCI enumeration and, in the bare firmware, BAR assignment from the machine's windows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from ..errors import DeviceNotFound, PciError, ResourceBusy
from .config import ConfigAccess, PortConfigAccess
from .device import PciDevice

if TYPE_CHECKING:
    from ..machine.machine import Machine

# Windows for the bare firmware: 32-bit MMIO below the IOAPIC, 64-bit above 64 GiB, I/O ports
# above the legacy range. The router learns every assigned BAR, so nothing overlaps RAM.
MEM32_WINDOW = (0xC0000000, 0xFEC00000)
MEM64_WINDOW = (0x10_0000_0000, 0x80_0000_0000)
IO_WINDOW = (0xC000, 0x10000)


class _Window:
    """A bump allocator with natural alignment (BARs are aligned to their size)."""

    def __init__(self, start: int, end: int) -> None:
        self.next, self.end = start, end

    def alloc(self, size: int) -> int | None:
        addr = (self.next + size - 1) & ~(size - 1)
        if addr + size > self.end:
            return None
        self.next = addr + size
        return addr


class PciBus:
    """All functions on bus 0 (bridges come with the full PCI layer)."""

    def __init__(self, machine: "Machine", cfg: ConfigAccess) -> None:
        self.machine = machine
        self.cfg = cfg
        self.devices: list[PciDevice] = []
        low_ram_end = max((r.end + 1 for r in machine.flat.ranges
                           if r.backing == "RAM" and r.start < 1 << 32), default=0)
        self._mem32 = _Window(max(MEM32_WINDOW[0], low_ram_end), MEM32_WINDOW[1])
        self._mem64 = _Window(*MEM64_WINDOW)
        self._io = _Window(*IO_WINDOW)
        self.scan()

    @classmethod
    def for_machine(cls, machine: "Machine") -> "PciBus":
        if machine.spec.arch != "x86_64":
            raise PciError("PCI on aarch64 virt needs ECAM access (not available yet)")
        assert machine.qtest is not None
        return cls(machine, PortConfigAccess(machine.qtest))

    def _present(self, bdf: tuple[int, int, int]) -> bool:
        return self.cfg.read(bdf, 0, 2) != 0xFFFF

    def scan(self) -> list[PciDevice]:
        """Enumerate bus 0, size every BAR, and assign unassigned ones."""
        self.devices = []
        for dev in range(32):
            if not self._present((0, dev, 0)):
                continue
            multi = self.cfg.read((0, dev, 0), 0x0E, 1) & 0x80
            for fn in range(8 if multi else 1):
                if fn and not self._present((0, dev, fn)):
                    continue
                d = PciDevice(self.machine, self.cfg, (0, dev, fn))
                d.size_bars()
                self.devices.append(d)
        self._assign()
        self._claim()
        return self.devices

    def _claim(self) -> None:
        """Show assigned memory BARs in the resource tree, named like the kernel (0000:bb:dd.f)."""
        for d in self.devices:
            for bar in d.bars.values():
                if bar.kind == "mem" and bar.address:
                    try:
                        self.machine.resources.insert(bar.address, bar.size, f"0000:{d.address}")
                    except ResourceBusy:
                        pass

    def _assign(self) -> None:
        """Give every unassigned BAR an address: largest first, so alignment wastes little."""
        pending = [(d, b) for d in self.devices for b in d.bars.values() if not b.address]
        for dev, bar in sorted(pending, key=lambda p: -p[1].size):
            if bar.kind == "io":
                addr = self._io.alloc(bar.size)
            else:
                addr = self._mem32.alloc(bar.size)
                if addr is None and bar.is64:
                    addr = self._mem64.alloc(bar.size)
            if addr is None:
                raise PciError(f"{dev.address} BAR{bar.index}: no room for {bar.size:#x} bytes")
            dev.set_bar_address(bar.index, addr)

    def __iter__(self) -> Iterator[PciDevice]:
        return iter(self.devices)

    def find_all(self, vendor: int | None = None, device: int | None = None) -> list[PciDevice]:
        return [d for d in self.devices
                if (vendor is None or d.vendor == vendor) and (device is None or d.device == device)]

    def find(self, vendor: int | None = None, device: int | None = None) -> PciDevice:
        """The first function matching vendor/device; DeviceNotFound lists what is there."""
        found = self.find_all(vendor, device)
        if not found:
            have = ", ".join(f"{d.vendor:04x}:{d.device:04x}" for d in self.devices)
            want = f"{vendor:04x}:" if vendor is not None else "*:"
            want += f"{device:04x}" if device is not None else "*"
            raise DeviceNotFound(f"no PCI device {want} (present: {have})")
        return found[0]
