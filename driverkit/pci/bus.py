"""PCI enumeration of every bus (through bridges) and, in the bare firmware, resource assignment.

How config space is reached depends on the machine: arm virt always has ECAM; x86 under the
bare firmware uses mechanism #1 (the CPU is parked, nobody races on 0xcf8); x86 q35 under
SeaBIOS uses ECAM once the firmware has programmed PCIEXBAR.
"""

from __future__ import annotations

import time
from typing import Iterator

from ..errors import DeviceNotFound, MachineTimeout, PciError, ResourceBusy
from .assign import assign_resources, close_bridge_windows
from .config import ConfigAccess, EcamConfigAccess, PortConfigAccess
from .device import (
    CMD_IO,
    CMD_MEMORY,
    COMMAND,
    HEADER_TYPE,
    PRIMARY_BUS,
    SECONDARY_BUS,
    SUBORDINATE_BUS,
    VENDOR_ID,
    PciDevice,
)
from .host import PciHost
from .platform import (
    BARE_PIIX3_ROUTES,
    PIIX3_PIRQ_ROUTE,
    Q35_ECAM,
    VIRT_ECAM_LOW,
    PciPlatform,
    platform_for,
)

FIRMWARE_TIMEOUT = 5.0  # for SeaBIOS to finish PCI setup (it takes ~50 ms under TCG)
CLASS_HOST_BRIDGE = 0x0600


class PciBus:
    """Every function on every bus, found by walking bridges from bus 0."""

    def __init__(self, host: PciHost, cfg: ConfigAccess,
                 platform: PciPlatform | None = None, assign: bool = True) -> None:
        self.host = host
        self.cfg = cfg
        self.platform = platform or platform_for(host.board)
        self.assign = assign  # True: we are the firmware (bare); False: keep what firmware did
        self.devices: list[PciDevice] = []
        self.roots: list[PciDevice] = []
        self._choice: str | int | None = None
        self._strict = False

    def select(self, choice: str | int | None = None, *, strict: bool = True) -> None:
        """How find() resolves several matches: the function at `choice` ("bb:dd.f", or an
        index among the matches); with no choice, `strict` refuses ambiguity (the CLI) instead
        of returning the first match (the default, for drivers of single devices)."""
        if isinstance(choice, bool) or not isinstance(choice, (str, int, type(None))):
            raise DeviceNotFound(f"PCI device choice {choice!r} is neither 'bb:dd.f' nor an index")
        self._choice, self._strict = choice, strict

    @classmethod
    def for_host(cls, host: PciHost) -> "PciBus":
        """Pick the config mechanism for this board and firmware, then enumerate."""
        plat = platform_for(host.board, host.low_ram_end())
        bare = host.firmware == "bare"
        if plat.ecam is not None:
            cfg: ConfigAccess = EcamConfigAccess(host.mem, plat.ecam)
            if not _present(cfg, (0, 0, 0)):  # virt,highmem=off: the low 16-bus ECAM
                cfg = EcamConfigAccess(host.mem, VIRT_ECAM_LOW, buses=16)
                plat = plat.without_high_mmio()
        elif host.ports is None:
            raise PciError(f"{host.board}: no ECAM and no I/O ports to reach config space")
        elif bare:
            cfg = PortConfigAccess(host.ports)
        elif host.board == "q35":
            cfg = EcamConfigAccess(host.mem, Q35_ECAM)
            _wait(lambda: _present(cfg, (0, 0, 0)), FIRMWARE_TIMEOUT,
                  "the firmware to program PCIEXBAR (ECAM at 0xb0000000)")
        else:
            if not host.firmware_ready:  # pc has no ECAM: ports are shared with firmware
                raise PciError(
                    f"{host.board} under firmware {host.firmware!r}: config space is only "
                    "reachable through ports 0xcf8/0xcfc, which the firmware is using; "
                    "`await driverkit.pci.wait_for_firmware(m)` before `m.pci`")
            cfg = PortConfigAccess(host.ports)
        bus = cls(host, cfg, plat, assign=bare)
        if not bare:
            _wait(bus._firmware_done, FIRMWARE_TIMEOUT,
                  "the firmware to finish PCI setup (decoding on for every function)")
        bus.scan()
        return bus

    # --- enumeration ----------------------------------------------------------------------

    def _firmware_done(self) -> bool:
        """SeaBIOS turns decoding on for each function last; all on means it is done."""
        try:
            found = self._walk_quick(0, set())
        except PciError:
            return False
        return bool(found) and all(
            self.cfg.read(bdf, COMMAND, 2) & (CMD_IO | CMD_MEMORY)
            for bdf, cls in found if cls != CLASS_HOST_BRIDGE)

    def _walk_quick(self, bus: int, seen: set[int]) -> list[tuple[tuple[int, int, int], int]]:
        """(bdf, class) of functions reachable through already-programmed bridges."""
        out = []
        seen.add(bus)
        for bdf in self._functions(bus):
            cls = self.cfg.read(bdf, 0x08, 4) >> 16
            out.append((bdf, cls))
            if self.cfg.read(bdf, HEADER_TYPE, 1) & 0x7F == 1:
                sec = self.cfg.read(bdf, SECONDARY_BUS, 1)
                if sec == 0:
                    raise PciError(f"bridge {bdf} not configured yet")
                if sec not in seen:
                    out += self._walk_quick(sec, seen)
        return out

    def _functions(self, bus: int) -> Iterator[tuple[int, int, int]]:
        for dev in range(32):
            if not _present(self.cfg, (bus, dev, 0)):
                continue
            multi = self.cfg.read((bus, dev, 0), HEADER_TYPE, 1) & 0x80
            for fn in range(8 if multi else 1):
                if fn == 0 or _present(self.cfg, (bus, dev, fn)):
                    yield (bus, dev, fn)

    def scan(self) -> list[PciDevice]:
        """Enumerate every bus, size every BAR; as firmware, number buses and assign."""
        self.devices = []
        if self.assign and self.platform.machine == "pc":
            self._route_piix3()
        self._next_bus = 1
        self.roots = self._scan_bus(0, None)
        if self.assign:
            assign_resources(self.roots, self.platform)
        self._claim()
        return self.devices

    def _scan_bus(self, bus: int, parent: PciDevice | None) -> list[PciDevice]:
        found = []
        for bdf in self._functions(bus):
            d = PciDevice(self.host, self.cfg, bdf, parent=parent, platform=self.platform)
            d.size_bars()
            self.devices.append(d)
            found.append(d)
            if d.is_bridge:
                if self.assign:
                    sec = self._next_bus
                    self._next_bus += 1
                    d.write_config(PRIMARY_BUS, 1, bus)
                    d.write_config(SECONDARY_BUS, 1, sec)
                    d.write_config(SUBORDINATE_BUS, 1, 0xFF)
                    close_bridge_windows(d)
                    d.children = self._scan_bus(sec, d)
                    d.write_config(SUBORDINATE_BUS, 1, self._next_bus - 1)
                    if d.secondary_bus != sec:
                        raise PciError(f"bridge {d.address}: secondary bus wrote {sec}, "
                                       f"reads back {d.secondary_bus}")
                else:
                    sec = d.secondary_bus
                    if sec > bus:  # a bridge the firmware left unnumbered hides its bus
                        d.children = self._scan_bus(sec, d)
        return found

    def _route_piix3(self) -> None:
        """pc: route PIRQA-D to ISA IRQs like SeaBIOS would, so INTx reaches the IOAPIC."""
        for i, irq in enumerate(BARE_PIIX3_ROUTES):
            self.cfg.write((0, 1, 0), PIIX3_PIRQ_ROUTE + i, 1, irq)

    def _claim(self) -> None:
        """Show assigned memory BARs in the resource tree, named like the kernel (0000:bb:dd.f)."""
        for d in self.devices:
            for bar in d.bars.values():
                if bar.kind == "mem" and bar.address:
                    try:
                        self.host.claim(bar.address, bar.size, f"0000:{d.address}")
                    except ResourceBusy:
                        pass

    # --- lookup ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[PciDevice]:
        return iter(self.devices)

    def __len__(self) -> int:
        return len(self.devices)

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
        return self._resolve(found)

    def _resolve(self, found: list[PciDevice]) -> PciDevice:
        listing = ", ".join(f"[{i}] {d.address}" for i, d in enumerate(found))
        what = f"{found[0].vendor:04x}:{found[0].device:04x}"
        if isinstance(self._choice, int):
            if not 0 <= self._choice < len(found):
                raise DeviceNotFound(f"no {what} device number {self._choice} (present: {listing})")
            return found[self._choice]
        if isinstance(self._choice, str):
            for d in found:
                if d.address == self._choice:
                    return d
            raise DeviceNotFound(f"no {what} device at {self._choice} (present: {listing})")
        if self._strict and len(found) > 1:
            raise DeviceNotFound(f"{len(found)} {what} devices match ({listing}): pick one "
                                 "with --bdf or --index")
        return found[0]

    def get(self, address: str) -> PciDevice:
        """The function at "bb:dd.f"."""
        for d in self.devices:
            if d.address == address:
                return d
        raise DeviceNotFound(f"no PCI function at {address} "
                             f"(present: {', '.join(d.address for d in self.devices)})")


def _present(cfg: ConfigAccess, bdf: tuple[int, int, int]) -> bool:
    return cfg.read(bdf, VENDOR_ID, 2) not in (0xFFFF, 0x0000)


def _wait(cond, timeout: float, what: str) -> None:
    """Poll a synchronous condition (qtest reads) until it holds, with a deadline."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise MachineTimeout(what, timeout)
        time.sleep(0.005)
