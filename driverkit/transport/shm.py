"""Shared guest RAM: the memory-backend-file QEMU maps with share=on, mmap'd by the host.

Guest-physical addresses are translated to file offsets through the flat view
(the `@offset` QEMU prints for each range of the backend), which stays right
across the below/above-4G split and any holes QEMU leaves.
"""

from __future__ import annotations

import bisect
import mmap
from typing import Callable

from ..errors import BoundsError, UnbackedError
from .mtree import FlatRange


def _no_fence() -> None:
    pass


class SharedRam:
    """An mmap of the RAM backend file, addressed by guest-physical address."""

    def __init__(self, fd: int, size: int, ranges: list[FlatRange],
                 fence: Callable[[], None] | None = None) -> None:
        self.size = size
        self.fence = fence or _no_fence
        """Called before every access: posted MMIO writes (which may start a DMA) land first."""
        self.mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._mv = memoryview(self.mm)  # views are slices of this one export
        self.set_ranges(ranges)

    def set_ranges(self, ranges: list[FlatRange]) -> None:
        """Where the backend is visible in the guest (re-read after the memory map changes)."""
        self.ranges = sorted(ranges, key=lambda r: r.start)
        self._starts = [r.start for r in self.ranges]

    def close(self) -> None:
        """Unmap; views still exported elsewhere keep the pages mapped until they go."""
        self._mv.release()
        try:
            self.mm.close()
        except BufferError:  # a view (or something built on one) is still alive
            pass

    def covers(self, start: int, size: int) -> bool:
        """True if every byte of [start, start+size) is backend RAM."""
        pos, end = start, start + size
        while pos < end:
            r = self._range(pos)
            if r is None:
                return False
            pos = r.end + 1
        return True

    def _range(self, addr: int) -> FlatRange | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and self.ranges[i].start <= addr <= self.ranges[i].end:
            return self.ranges[i]
        return None

    def offset(self, addr: int, n: int) -> int:
        """File offset of guest-physical addr, for an access of n bytes within one range."""
        r = self._range(addr)
        if r is None or addr + n - 1 > r.end:
            raise UnbackedError(f"{addr:#x}+{n} is not (wholly) in shared RAM")
        off = r.offset + (addr - r.start)
        if off + n > self.size:
            raise BoundsError(f"{addr:#x}+{n} maps beyond the RAM backend ({self.size:#x} bytes)")
        return off

    def _pieces(self, addr: int, n: int):
        pos, end = addr, addr + n
        while pos < end:
            r = self._range(pos)
            if r is None:
                raise UnbackedError(f"{pos:#x} is not in shared RAM")
            take = min(end, r.end + 1) - pos
            yield pos - addr, r.offset + (pos - r.start), take
            pos += take

    # --- Bus ------------------------------------------------------------------------------

    def read(self, addr: int, width: int) -> int:
        self.fence()
        off = self.offset(addr, width)
        return int.from_bytes(self.mm[off : off + width], "little")

    def write(self, addr: int, width: int, value: int) -> None:
        self.fence()
        off = self.offset(addr, width)
        self.mm[off : off + width] = value.to_bytes(width, "little")

    def read_bytes(self, addr: int, n: int) -> bytes:
        self.fence()
        pieces = [self.mm[off : off + take] for _, off, take in self._pieces(addr, n)]
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)  # one copy, mmap to bytes

    def readinto(self, addr: int, buf: memoryview) -> None:
        """Copy len(buf) bytes at addr into buf (one copy, no intermediate object)."""
        self.fence()
        mv = self._mv
        for dst, off, take in self._pieces(addr, len(buf)):
            buf[dst : dst + take] = mv[off : off + take]

    def view(self, addr: int, n: int) -> memoryview:
        """A writable memoryview aliasing [addr, addr+n) of guest RAM (one contiguous range).

        Posted writes are drained when the view is made; accesses through it later are not
        ordered against posted MMIO writes (call the machine's sync() first)."""
        self.fence()
        off = self.offset(addr, n)
        return self._mv[off : off + n]

    def write_bytes(self, addr: int, data: bytes | memoryview) -> None:
        self.fence()
        for src, off, take in self._pieces(addr, len(data)):
            self.mm[off : off + take] = data[src : src + take]

    def memset(self, addr: int, n: int, byte: int) -> None:
        self.fence()
        for _, off, take in self._pieces(addr, n):
            self.mm[off : off + take] = bytes([byte]) * take
