"""What the PCI layer needs from whoever hosts the bus: the host side of libqos's QPCIBus.

Enumeration, sizing, assignment and enable talk to config space only through a
`ConfigAccess` built over the host's memory and port buses; mapping a BAR, telling
the router a BAR decodes, and showing it in the resource tree go through `PciHost`.
Anything with these members works (a Machine provides one; tests may bring a fake).
"""

from __future__ import annotations

from typing import Protocol

from ..io.iomem import IoMem
from ..transport.base import Bus


class PciHost(Protocol):
    """The host interface of one PCI bus: buses to reach config space, map, overlay, claim."""

    board: str
    """The machine type ("q35", "pc", "virt"): which platform facts apply."""
    firmware: str
    """"bare" (we assign resources) or a real firmware that already did."""
    mem: Bus
    """Guest-physical memory, as the CPU sees it (ECAM lives here)."""
    ports: Bus | None
    """x86 I/O ports (configuration mechanism #1), None where there are none."""

    @property
    def firmware_ready(self) -> bool:
        """True once a real firmware's PCI assignment is known to be complete."""
        ...

    def low_ram_end(self) -> int:
        """End of RAM below 4 GiB (the 32-bit BAR window starts above it)."""
        ...

    def ioremap(self, phys: int, size: int, *, name: str = "") -> IoMem: ...

    def ioport_map(self, port: int, size: int, *, name: str = "") -> IoMem: ...

    def add_mmio_overlay(self, key: object, start: int, size: int) -> None:
        """[start, start+size) now decodes to a device (a BAR with decoding on)."""
        ...

    def remove_mmio_overlay(self, key: object) -> None: ...

    def claim(self, start: int, size: int, name: str) -> object:
        """Show an assigned BAR in the resource tree (non-busy, like insert_resource)."""
        ...
