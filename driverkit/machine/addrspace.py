"""The guest-physical address space of one machine: QEMU's flat view, routing, mappings, claims.

Machine owns one AddressSpace and delegates to it. The space knows what backs each
address (QEMU's `info mtree -f`, plus BARs the PCI layer enabled), picks the bus an
access goes through and hands out IoMem mappings and the resource tree.

Routing follows QEMU. qtest accesses always land where QEMU routes them now; shared
RAM is right only while QEMU routes the address to the RAM backend, and chipset
registers (TSEG/SMRAM, SMBASE, PAM, BARs over RAM) change that while QEMU runs. So
anything that can change the map (a config-space or port write, an MMIO write
outside an enabled BAR, a QMP command that is not a query, any QMP event, a reset)
marks the view stale. Writes are seen where they all leave, the qtest channel's write hook
(note_write): typed or raw (`m.qtest.writeb`, `command("outl ...")`), through a mapping,
the PCI layer or around it; one that lands in RAM by the current view cannot re-route
memory and is let through after a cached range compare; the next access that depends on it (a shared-RAM access,
ioremap, `flat`, `backing`) re-reads `info mtree -f` first, over a synchronous
monitor channel. Every mapping's route is re-bound then: RAM that QEMU no longer
routes to the backend goes through qtest, RAM that appeared goes through the mmap.
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
from .routing import Route

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
        self.resources = ResourceTree()
        self.reserved: list[tuple[int, int, str]] = []
        """RAM the machine's own firmware uses (the stepping mailbox): claimed busy every time
        the tree is seeded, so a DMA pool or a claim cannot land on it."""
        self.shm: SharedRam | None = None
        self.stale = False
        """The map may have changed since it was read; the next access that needs it re-reads."""
        self.address_space = "memory"
        """Which of `info mtree -f`'s views qtest accesses reach (the CPU's on Cortex-M)."""
        self.refreshes = 0
        """How often `info mtree -f` was re-read (tests count it)."""
        self._flat = FlatView([])
        self._mtree: Callable[[], str] | None = None
        self._fence: Callable[[], None] = lambda: None
        self._mem_bus: Bus | None = None
        self._port_bus: Bus | None = None
        self._overlays: dict[object, tuple[int, int]] = {}
        self._quiet = (0, 0)
        """[start, end) of the RAM range a write last landed in (current view): writes there
        need no lookup."""
        self._mappings: "weakref.WeakKeyDictionary[IoMem, Route | None]" = \
            weakref.WeakKeyDictionary()
        self.viewers: "weakref.WeakSet[Route]" = weakref.WeakSet()
        """Routes that handed out RAM views (a change of the map is checked at once then)."""

    def attach(self, mem_bus: Bus, port_bus: Bus | None, shm: SharedRam | None,
               mtree: Callable[[], str], flat: FlatView | None = None) -> None:
        """Connect to QEMU: qtest memory and ports, the shared RAM mmap, and a synchronous
        reader of `info mtree -f`; then adopt `flat` (read just now) or read the map.
        The qtest channel's write hook must call note_write (Machine sets it)."""
        self._fence = getattr(mem_bus, "fence", None) or (lambda: None)
        self._mem_bus = mem_bus
        self._port_bus = port_bus
        self.shm = shm
        self._mtree = mtree
        if flat is None:
            self.refresh()
        else:
            self.set_flat(flat)

    # --- the flat view ----------------------------------------------------------------------

    @property
    def flat(self) -> FlatView:
        """QEMU's flat view of the memory address space, re-read first if it may have changed."""
        if self.stale:
            self.refresh()
        return self._flat

    def refresh(self) -> FlatView:
        """Re-read `info mtree -f` now and re-bind every mapping to the routing it shows."""
        if self._mtree is None:
            raise MappingError("the address space is not connected to QEMU yet")
        self._fence()  # posted writes take effect before QEMU renders its map
        self.stale = False
        text = self._mtree()
        self.set_flat(FlatView.parse(text, self.address_space))
        self.refreshes += 1
        return self._flat

    def set_flat(self, flat: FlatView) -> None:
        """Adopt a flat view (QEMU's routing now) and re-bind the mappings to it."""
        self._flat = flat
        self._quiet = (0, 0)
        if self.shm is not None:
            self.shm.set_ranges(flat.ram_of(RAM_BACKEND_ID))
        for route in self._routes():
            route.rebind()

    def invalidate(self) -> None:
        """Something may have re-routed memory: re-read the map before the next access that
        depends on it (at once while RAM views are handed out, so they never alias stale RAM)."""
        self.stale = True
        if self._mtree is not None and any(r.has_views for r in self.viewers):
            self.refresh()

    def note_write(self, space: str, addr: int, n: int) -> None:
        """A write reached QEMU (the qtest channel's hook): it may have re-routed memory,
        unless it landed in RAM by the current view or in an enabled BAR's registers."""
        if self.stale:
            return
        if space == "mem":
            lo, hi = self._quiet
            if lo <= addr and addr + n <= hi:
                return
            r = self._flat.find(addr)
            if r is not None and r.kind == "ram" and addr + n <= r.end + 1:
                self._quiet = (r.start, r.end + 1)
                return
            if self.in_overlay(addr, n):
                return
        self.invalidate()

    def _routes(self) -> list[Route]:
        return [r for r in list(self._mappings.values()) if r is not None]

    # --- what backs an address --------------------------------------------------------------

    def add_mmio_overlay(self, key: object, start: int, size: int) -> None:
        """Tell the router that [start, start+size) is now device MMIO (e.g. an enabled BAR)."""
        self._overlays[key] = (start, size)

    def remove_mmio_overlay(self, key: object) -> None:
        self._overlays.pop(key, None)

    def in_overlay(self, start: int, size: int) -> bool:
        """True if one enabled BAR holds all of [start, start+size) (device registers there do
        not re-route memory, so writes to them leave the view alone)."""
        return any(s <= start and start + size <= s + n for s, n in self._overlays.values())

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
    def qtest_bus(self) -> Bus:
        """The memory address space through qtest, as it is (reads never change routing)."""
        if self._mem_bus is None:
            raise MappingError("the address space is not connected to QEMU yet")
        return self._mem_bus

    @property
    def mem_bus(self) -> Bus | None:
        """The memory address space through qtest; its writes mark the view stale (note_write)."""
        return self._mem_bus

    @property
    def port_bus(self) -> Bus | None:
        """The x86 I/O port space (None elsewhere); its writes mark the view stale too."""
        return self._port_bus

    def bus_for(self, start: int, size: int) -> Bus:
        """Shared RAM if QEMU routes every byte to the RAM backend now, else qtest."""
        if self.stale:
            self.refresh()
        if self.shm is not None and self.shm.covers(start, size):
            return self.shm
        if self._mem_bus is None:
            raise MappingError("the address space is not connected to QEMU yet")
        return self._mem_bus

    # --- mappings ---------------------------------------------------------------------------

    def ioremap(self, phys: int, size: int, *, allow_unbacked: bool = False,
                name: str = "") -> IoMem:
        """Map [phys, phys+size) like the kernel's ioremap: checked, traced, routed as QEMU does.

        Ranges nothing backs are refused unless allow_unbacked=True (after re-reading the
        map once, so a range that appeared since, such as RCBA or a new BAR, just works).
        """
        self.guard()
        if not isinstance(phys, int) or not isinstance(size, int):
            raise MappingError(f"ioremap needs integers, got {phys!r}, {size!r}")
        if size <= 0:
            raise MappingError(f"ioremap({phys:#x}, {size}): size must be > 0")
        if phys < 0 or phys + size > ADDR_LIMIT:
            raise BoundsError(f"ioremap({phys:#x}, {size:#x}) wraps around the address space")
        if not allow_unbacked:
            fresh = self.stale  # unbacked() re-reads a stale map first
            holes = self.unbacked(phys, size)
            if holes and not fresh:
                self.refresh()
                holes = self.unbacked(phys, size)
            if holes:
                desc = ", ".join(f"{s:#x}-{s + n - 1:#x}" for s, n in holes[:4])
                raise UnbackedError(
                    f"ioremap({phys:#x}, {size:#x}): nothing backs {desc} "
                    "(pass allow_unbacked=True to map it anyway)"
                )
        if self.stale:
            self.refresh()
        route = Route(self, phys, size)
        iomem = IoMem(route, phys, size, name=name, tracer=self.trace.tracer("mem"))
        self._mappings[iomem] = route
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
        self._mappings[iomem] = None
        return iomem

    def route(self, iomem: IoMem) -> str:
        """How accesses through `iomem` travel now: "shm" (the RAM mmap), "qtest" or "ports"."""
        if iomem not in self._mappings:
            raise MappingError(f"{iomem!r} is not mapped in this address space")
        route = self._mappings[iomem]
        if route is None:
            return "ports"
        if self.stale:
            self.refresh()
        return "shm" if route.ram else "qtest"

    def iounmap(self, iomem: IoMem) -> None:
        """Unmap; later accesses through `iomem` (and its views) fail."""
        if not iomem.mapped:
            raise MappingError(f"iounmap of {iomem!r}: already unmapped")
        self._drop(iomem)

    def _drop(self, iomem: IoMem) -> None:
        iomem.unmap()
        route = self._mappings.pop(iomem, None)
        if route is not None:
            route.release_views()

    def unmap_all(self) -> None:
        """Unmap every mapping handed out, views included (close, reset)."""
        for iomem, route in list(self._mappings.items()):
            iomem.unmap()
            if route is not None:
                route.release_views()
        self._mappings.clear()

    # --- bulk physical access ---------------------------------------------------------------

    def read_phys(self, addr: int, n: int) -> bytes:
        """Bulk read of guest-physical memory (shared RAM where QEMU routes there, else qtest)."""
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
        for start, size, name in self.reserved:
            self.resources.insert(start, size, name, busy=True)

    def request_mem_region(self, start: int, size: int, name: str) -> Resource:
        """Claim a region like the kernel: nests under non-busy regions, refuses busy ones."""
        return self.resources.request(start, size, name)

    def release_mem_region(self, res: Resource) -> None:
        self.resources.release(res)

    def claim(self, start: int, size: int, name: str) -> Resource:
        """Show a non-busy region (a BAR) in the resource tree, like the kernel's insert_resource."""
        return self.resources.insert(start, size, name)

    def reset(self) -> None:
        """After a machine reset: mappings unmapped, overlays dropped, the map re-read, claims
        released (the tree seeded afresh from the new map)."""
        self.unmap_all()
        self._overlays.clear()
        self.refresh()
        self.build_resources()
