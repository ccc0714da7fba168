"""A Machine as the PCI layer sees it: driverkit.pci.host.PciHost over the machine's parts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import MappingError
from ..io.iomem import IoMem
from ..transport.base import Bus

if TYPE_CHECKING:
    from .machine import Machine


def _never_ran(machine: "Machine") -> bool:
    """True while the VM is still in prelaunch (started with -S and never continued)."""
    if machine.monitor is None:
        return False
    return machine.monitor.execute("query-status").get("status") == "prelaunch"


class MachinePciHost:
    """Config-space buses, BAR mapping, overlays and claims of one machine (a PciHost)."""

    def __init__(self, machine: "Machine") -> None:
        self._m = machine
        space = machine.space
        self.board = str(machine.spec.machine)
        self.firmware = machine.spec.firmware
        if self.firmware not in ("bare", "seabios", "direct") and _never_ran(machine):
            # A ROM that has not run (-S, still prelaunch) touches nothing: own PCI as with bare.
            self.firmware = "bare"
        if space.mem_bus is None:
            raise MappingError("the machine's address space is not connected to QEMU yet")
        self.mem: Bus = space.mem_bus
        self.ports: Bus | None = space.port_bus

    @property
    def firmware_ready(self) -> bool:
        return self._m.firmware_ready

    def low_ram_end(self) -> int:
        return max((r.end + 1 for r in self._m.space.flat.ranges
                    if r.backing == "RAM" and r.end < 1 << 32), default=0)

    def ioremap(self, phys: int, size: int, *, name: str = "") -> IoMem:
        return self._m.ioremap(phys, size, name=name)

    def ioport_map(self, port: int, size: int, *, name: str = "") -> IoMem:
        return self._m.ioport_map(port, size, name=name)

    def add_mmio_overlay(self, key: object, start: int, size: int) -> None:
        self._m.space.add_mmio_overlay(key, start, size)

    def remove_mmio_overlay(self, key: object) -> None:
        self._m.space.remove_mmio_overlay(key)

    def claim(self, start: int, size: int, name: str) -> object:
        return self._m.space.claim(start, size, name)
