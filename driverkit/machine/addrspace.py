"""The guest-physical address space of one machine: QEMU's flat view, routing, mappings, claims.

Machine owns one AddressSpace and delegates to it. The space knows what backs each
address (QEMU's `info mtree -f`, plus BARs the PCI layer enabled), picks the bus an
access goes through (shared RAM where QEMU routes the address to the RAM backend,
qtest everywhere else), hands out IoMem mappings and keeps the resource tree.
"""

from __future__ import annotations

import weakref
from typing import Callable

from ..errors import BoundsError, MappingError, UnbackedError
from ..io.iomem import IoMem
from ..io.resource import Resource, ResourceTree
from ..io.trace import Trace
from ..transport.base import Bus
from ..transport.mtree import FlatView
from ..transport.shm import SharedRam
from .argv import RAM_BACKEND_ID

ADDR_LIMIT = 1 << 64
PORT_LIMIT = 1 << 16


class AddressSpace:
    """Routing, ioremap/iounmap, MMIO overlays and the resource tree of one machine."""

    def __init__(self, trace: Trace, *, has_ports: bool,
                 guard: Callable[[], None] = lambda: None) -> None:
        self.trace = trace
        self.has_ports = has_ports
        self.guard = guard
        """Called before anything reaches QEMU; raises if the machine cannot take it."""
        self.flat = FlatView([])
        self.resources = ResourceTree()
        self.shm: SharedRam | None = None
        self._mem_bus: Bus | None = None
        self._port_bus: Bus | None = None
        self._overlays: dict[object, tuple[int, int]] = {}
        self._mappings: "weakref.WeakSet[IoMem]" = weakref.WeakSet()

    def attach(self, mem_bus: Bus, port_bus: Bus | None, shm: SharedRam | None) -> None:
        """Connect the buses once QEMU is up (qtest memory and ports, the shared RAM mapping)."""
        self._mem_bus = mem_bus
        self._port_bus = port_bus
        self.shm = shm
        if shm is not None:
            shm.set_ranges(self.flat.ram_of(RAM_BACKEND_ID))

    def set_flat(self, flat: FlatView) -> None:
        """Adopt a freshly read flat view (QEMU's routing now)."""
        self.flat = flat
        if self.shm is not None:
            self.shm.set_ranges(flat.ram_of(RAM_BACKEND_ID))

    # --- what backs an address --------------------------------------------------------------

    def add_mmio_overlay(self, key: object, start: int, size: int) -> None:
        """Tell the router that [start, start+size) is now device MMIO (e.g. an enabled BAR)."""
        self._overlays[key] = (start, size)

    def remove_mmio_overlay(self, key: object) -> None:
        self._overlays.pop(key, None)

    def backing(self, addr: int) -> str:
        """What backs a guest-physical address: "RAM", "ROM", "MMIO" or "none"."""
        for start, size in self._overlays.values():
            if start <= addr < start + size:
                return "MMIO"
        r = self.flat.find(addr)
        return r.backing if r else "none"

    def unbacked(self, start: int, size: int) -> list[tuple[int, int]]:
        """Sub-ranges of [start, start+size) that neither QEMU's map nor an enabled BAR backs."""
        out = []
        for hs, hn in self.flat.holes(start, size):
            pieces = [(hs, hn)]
            for os_, on in self._overlays.values():
                nxt = []
                for ps, pn in pieces:
                    if os_ + on <= ps or ps + pn <= os_:
                        nxt.append((ps, pn))
                        continue
                    if ps < os_:
                        nxt.append((ps, os_ - ps))
                    if os_ + on < ps + pn:
                        nxt.append((os_ + on, ps + pn - os_ - on))
                pieces = nxt
            out += pieces
        return out

    @property
    def mem_bus(self) -> Bus | None:
        """The memory address space through qtest, where QEMU routes every access itself."""
        return self._mem_bus

    @property
    def port_bus(self) -> Bus | None:
        """The x86 I/O port space (None elsewhere)."""
        return self._port_bus

    def bus_for(self, start: int, size: int) -> Bus:
        """Shared RAM if every byte routes to the RAM backend, else qtest."""
        if self.shm is not None and self.shm.covers(start, size):
            return self.shm
        if self._mem_bus is None:
            raise MappingError("the address space is not connected to QEMU yet")
        return self._mem_bus

    # --- mappings ---------------------------------------------------------------------------

    def ioremap(self, phys: int, size: int, *, allow_unbacked: bool = False,
                name: str = "") -> IoMem:
        """Map [phys, phys+size) like the kernel's ioremap: checked, traced.

        Ranges nothing backs are refused unless allow_unbacked=True.
        """
        self.guard()
        if not isinstance(phys, int) or not isinstance(size, int):
            raise MappingError(f"ioremap needs integers, got {phys!r}, {size!r}")
        if size <= 0:
            raise MappingError(f"ioremap({phys:#x}, {size}): size must be > 0")
        if phys < 0 or phys + size > ADDR_LIMIT:
            raise BoundsError(f"ioremap({phys:#x}, {size:#x}) wraps around the address space")
        if not allow_unbacked:
            holes = self.unbacked(phys, size)
            if holes:
                desc = ", ".join(f"{s:#x}-{s + n - 1:#x}" for s, n in holes[:4])
                raise UnbackedError(
                    f"ioremap({phys:#x}, {size:#x}): nothing backs {desc} "
                    "(pass allow_unbacked=True to map it anyway)"
                )
        iomem = IoMem(self.bus_for(phys, size), phys, size, name=name,
                      tracer=self.trace.tracer("mem"))
        self._mappings.add(iomem)
        return iomem

    def ioport_map(self, port: int, size: int, *, name: str = "") -> IoMem:
        """An IoMem over x86 I/O ports [port, port+size) (the kernel's ioport_map)."""
        self.guard()
        if not self.has_ports:
            raise MappingError("I/O ports exist only on x86_64")
        if port < 0 or size <= 0 or port + size > PORT_LIMIT:
            raise BoundsError(f"ioport_map({port:#x}, {size:#x}) outside the 64 KiB port space")
        if self._port_bus is None:
            raise MappingError("the address space is not connected to QEMU yet")
        iomem = IoMem(self._port_bus, port, size, name=name, space="io",
                      tracer=self.trace.tracer("io"))
        self._mappings.add(iomem)
        return iomem

    def iounmap(self, iomem: IoMem) -> None:
        """Unmap; later accesses through `iomem` raise MappingError."""
        if not iomem.mapped:
            raise MappingError(f"iounmap of {iomem!r}: already unmapped")
        iomem.unmap()
        self._mappings.discard(iomem)

    def unmap_all(self) -> None:
        """Unmap every mapping handed out (close, reset)."""
        for m in list(self._mappings):
            m.unmap()
        self._mappings.clear()

    # --- bulk physical access ---------------------------------------------------------------

    def read_phys(self, addr: int, n: int) -> bytes:
        """Bulk read of guest-physical memory (shared RAM when possible, else qtest)."""
        self.guard()
        return self.bus_for(addr, max(n, 1)).read_bytes(addr, n) if n else b""

    def write_phys(self, addr: int, data: bytes) -> None:
        """Bulk write of guest-physical memory (used by ELF loading and DMA buffers)."""
        self.guard()
        if data:
            self.bus_for(addr, len(data)).write_bytes(addr, bytes(data))

    # --- resources --------------------------------------------------------------------------

    def build_resources(self) -> None:
        """A fresh resource tree seeded from QEMU's map: RAM busy System RAM, the rest non-busy."""
        self.resources.clear()
        merged: list[list] = []
        for r in self.flat.ranges:
            name = "System RAM" if r.backing == "RAM" else r.name
            busy = r.backing == "RAM"
            if merged and merged[-1][2] == name and merged[-1][1] + 1 == r.start:
                merged[-1][1] = r.end
            else:
                merged.append([r.start, r.end, name, busy])
        for start, end, name, busy in merged:
            self.resources.insert(start, end - start + 1, name, busy=busy)

    def request_mem_region(self, start: int, size: int, name: str) -> Resource:
        """Claim a region like the kernel: nests under non-busy regions, refuses busy ones."""
        return self.resources.request(start, size, name)

    def release_mem_region(self, res: Resource) -> None:
        self.resources.release(res)

    def claim(self, start: int, size: int, name: str) -> Resource:
        """Show a non-busy region (a BAR) in the resource tree, like the kernel's insert_resource."""
        return self.resources.insert(start, size, name)

    def reset(self) -> None:
        """Forget everything handed out: mappings unmapped, overlays dropped, claims released."""
        self.unmap_all()
        self._overlays.clear()
        self.build_resources()
