"""How one mapping's accesses travel: the shared RAM mmap or qtest, re-bound as QEMU re-routes.

AddressSpace (addrspace.py) owns the routes and decides when the flat view is stale (the
qtest channel tells it of every write); a Route only asks it, before each shared-RAM
access, whether the view must be re-read.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from ..errors import UnbackedError

if TYPE_CHECKING:
    from .addrspace import AddressSpace


class Route:
    """The bus of one memory mapping: the shared mmap while QEMU routes all of it to the RAM
    backend, qtest otherwise; re-bound by the space whenever it re-reads the map."""

    def __init__(self, space: "AddressSpace", start: int, size: int) -> None:
        self.space = space
        self.start = start
        self.size = size
        self.ram = False
        self.views: list[weakref.ref[memoryview]] = []
        self.rebind()

    def rebind(self) -> None:
        sp = self.space
        shm = sp.shm
        if shm is not None and shm.covers(self.start, self.size):
            self.ram = True
            self.read = self._ram_read
            self.write = self._ram_write
            try:  # one piece of the backend file: registers are plain loads and stores
                self._delta = shm.offset(self.start, self.size) - self.start
                self._mm, self._fence = shm.mm, shm.fence
                self.read = self._ram_load
                self.write = self._ram_store
            except UnbackedError:  # spans pieces (e.g. across the 4 GiB split): per access
                pass
            self.read_bytes = self._ram_read_bytes
            self.write_bytes = self._ram_write_bytes
            self.memset = self._ram_memset
            self.read_many = None  # IoMem reads one by one: each is a memory load
            return
        self.ram = False
        self.release_views()
        qt = sp.qtest_bus  # its writes reach the space's note_write through the channel
        self.read = qt.read
        self.read_bytes = qt.read_bytes
        self.read_many = getattr(qt, "read_many", None)
        self.write = qt.write
        self.write_bytes = qt.write_bytes
        self.memset = qt.memset

    def release_views(self) -> None:
        """Views handed out stop working (ValueError on use): their bytes are no longer RAM."""
        for ref in self.views:
            v = ref()
            if v is None:
                continue
            try:
                v.release()
            except BufferError:  # something exported it further; it cannot be revoked
                pass
        self.views.clear()

    @property
    def has_views(self) -> bool:
        """True while a view this route handed out is alive."""
        self.views = [r for r in self.views if r() is not None]
        return bool(self.views)

    def _current(self) -> bool:
        """Re-read the map if it may have changed; True if this route still goes to RAM."""
        if self.space.stale:
            self.space.refresh()
        return self.ram

    def _ram_load(self, addr: int, width: int) -> int:
        if self.space.stale and not self._current():
            return self.read(addr, width)
        self._fence()
        off = addr + self._delta
        return int.from_bytes(self._mm[off : off + width], "little")

    def _ram_store(self, addr: int, width: int, value: int) -> None:
        if self.space.stale and not self._current():
            return self.write(addr, width, value)
        self._fence()
        off = addr + self._delta
        self._mm[off : off + width] = value.to_bytes(width, "little")

    def _ram_read(self, addr: int, width: int) -> int:
        if self.space.stale and not self._current():
            return self.read(addr, width)
        return self.space.shm.read(addr, width)  # type: ignore[union-attr]

    def _ram_write(self, addr: int, width: int, value: int) -> None:
        if self.space.stale and not self._current():
            return self.write(addr, width, value)
        self.space.shm.write(addr, width, value)  # type: ignore[union-attr]

    def _ram_read_bytes(self, addr: int, n: int) -> bytes:
        if self.space.stale and not self._current():
            return self.read_bytes(addr, n)
        return self.space.shm.read_bytes(addr, n)  # type: ignore[union-attr]

    def _ram_write_bytes(self, addr: int, data: bytes | memoryview) -> None:
        if self.space.stale and not self._current():
            return self.write_bytes(addr, data)
        self.space.shm.write_bytes(addr, data)  # type: ignore[union-attr]

    def _ram_memset(self, addr: int, n: int, byte: int) -> None:
        if self.space.stale and not self._current():
            return self.memset(addr, n, byte)
        self.space.shm.memset(addr, n, byte)  # type: ignore[union-attr]

    def readinto(self, addr: int, buf: memoryview) -> None:
        """Fill `buf` from guest memory at addr: one copy from the mmap, or qtest's b64read."""
        if self._current():
            self.space.shm.readinto(addr, buf)  # type: ignore[union-attr]
        else:
            buf[:] = self.read_bytes(addr, len(buf))

    def view(self, addr: int, n: int) -> memoryview:
        """A memoryview aliasing guest RAM (no copy); refused unless QEMU routes it to RAM."""
        if not self._current():
            r = self.space.flat.find(addr)
            what = f"{r.name} ({r.backing})" if r else "nothing"
            raise UnbackedError(
                f"view of {addr:#x}+{n:#x}: QEMU routes it to {what}, not the shared RAM "
                "backend; only RAM can be viewed (read() copies through qtest)")
        mv = self.space.shm.view(addr, n)  # type: ignore[union-attr]
        if len(self.views) > 64:
            self.views = [r for r in self.views if r() is not None]
        self.views.append(weakref.ref(mv))
        self.space.viewers.add(self)
        return mv
