"""A gen_pool-style allocator for memory the kernel does not manage (lib/genalloc.c).

"The memory management system cannot see this memory; manage it on your own": a carve-out
from `mem=`/`memmap=`, a device's SRAM, a DMA window. Like the kernel's gen_pool, sizes are
rounded up to 1 << min_alloc_order and placement is first-fit with an absolute alignment
(gen_pool_first_fit_align). Unlike it, the pool remembers each allocation's size, so
`free(addr)` needs no size, and it refuses double and foreign frees instead of BUG()ing.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from ..errors import OutOfMemory, PoolError


@dataclass(frozen=True)
class Allocation:
    addr: int
    size: int  # rounded size actually held
    requested: int
    owner: str


@dataclass(frozen=True)
class PoolStats:
    total: int
    used: int
    free: int
    largest_free: int
    free_blocks: int
    allocations: int

    @property
    def fragmentation(self) -> float:
        """1 - largest free block / free bytes: 0 = one hole, near 1 = shredded."""
        return 0.0 if self.free == 0 else 1.0 - self.largest_free / self.free

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "used": self.used,
            "free": self.free,
            "largest_free": self.largest_free,
            "free_blocks": self.free_blocks,
            "allocations": self.allocations,
            "fragmentation": round(self.fragmentation, 4),
        }


class GenPool:
    """Manage [start, start+size) (plus chunks added later) with first-fit, aligned allocs."""

    def __init__(
        self, start: int, size: int, min_alloc_order: int = 0, *, name: str = "genpool"
    ) -> None:
        if not isinstance(min_alloc_order, int) or not 0 <= min_alloc_order < 48:
            raise PoolError(f"{name}: min_alloc_order {min_alloc_order!r} must be 0..47")
        self.name = name
        self.min_alloc_order = min_alloc_order
        self.granule = 1 << min_alloc_order
        self._chunks: list[tuple[int, int]] = []
        self._free: list[tuple[int, int]] = []  # sorted [start, end)
        self._allocs: dict[int, Allocation] = {}
        self.add(start, size)

    # --- chunks --------------------------------------------------------------------------
    def add(self, start: int, size: int) -> None:
        """gen_pool_add: give the pool another range (must not overlap what it has)."""
        if start < 0 or size <= 0:
            raise PoolError(
                f"{self.name}: chunk {start:#x}+{size:#x}: start must be >= 0, size > 0"
            )
        if start % self.granule or size % self.granule:
            raise PoolError(
                f"{self.name}: chunk {start:#x}+{size:#x} is not a multiple of the "
                f"{self.granule:#x}-byte granule (min_alloc_order {self.min_alloc_order})"
            )
        end = start + size
        for s, e in self._chunks:
            if s < end and start < e:
                raise PoolError(
                    f"{self.name}: chunk {start:#x}-{end - 1:#x} overlaps "
                    f"{s:#x}-{e - 1:#x} already in the pool"
                )
        self._chunks.append((start, end))
        self._chunks.sort()
        self._insert_free(start, end)

    def _insert_free(self, start: int, end: int) -> None:
        i = bisect.bisect_left(self._free, (start, end))
        if i > 0 and self._free[i - 1][1] == start:
            i -= 1
            start = self._free[i][0]
            del self._free[i]
        if i < len(self._free) and self._free[i][0] == end:
            end = self._free[i][1]
            del self._free[i]
        self._free.insert(i, (start, end))

    # --- alloc/free -------------------------------------------------------------------------
    def alloc(self, size: int, align: int | None = None, *, owner: str = "") -> int:
        """Allocate `size` bytes aligned to `align` (a power of two); returns the address."""
        if not isinstance(size, int) or size <= 0:
            raise PoolError(f"{self.name}: alloc size {size!r} must be a positive integer")
        a = self.granule if align is None else align
        if not isinstance(a, int) or a <= 0 or a & (a - 1):
            raise PoolError(f"{self.name}: alignment {align!r} must be a power of two")
        a = max(a, self.granule)
        need = -(-size // self.granule) * self.granule
        for i, (s, e) in enumerate(self._free):
            addr = -(-s // a) * a
            if addr + need <= e:
                del self._free[i]
                if addr > s:
                    self._free.insert(i, (s, addr))
                    i += 1
                if addr + need < e:
                    self._free.insert(i, (addr + need, e))
                self._allocs[addr] = Allocation(addr, need, size, owner)
                return addr
        st = self.stats()
        raise OutOfMemory(
            f"{self.name}: cannot allocate {size:#x} bytes (rounded {need:#x}) aligned to {a:#x}: "
            f"{st.free:#x} of {st.total:#x} bytes free, largest free block {st.largest_free:#x}"
            f" in {st.free_blocks} pieces"
        )

    def free(self, addr: int, size: int | None = None) -> None:
        """Return an allocation; double frees and addresses the pool never gave out are refused."""
        al = self._allocs.get(addr)
        if al is None:
            inside = any(s <= addr < e for s, e in self._chunks)
            if not inside:
                raise PoolError(
                    f"{self.name}: free of {addr:#x}: not in this pool "
                    f"({', '.join(f'{s:#x}-{e - 1:#x}' for s, e in self._chunks)})"
                )
            if any(s <= addr < e for s, e in self._free):
                raise PoolError(f"{self.name}: free of {addr:#x}: already free (double free?)")
            owner = next(
                (x for x in self._allocs.values() if x.addr <= addr < x.addr + x.size), None
            )
            where = f" inside the allocation at {owner.addr:#x}+{owner.size:#x}" if owner else ""
            raise PoolError(
                f"{self.name}: free of {addr:#x}: not the start of an allocation{where}"
            )
        if size is not None and -(-size // self.granule) * self.granule != al.size:
            raise PoolError(
                f"{self.name}: free of {addr:#x} with size {size:#x}, "
                f"but it was allocated with {al.requested:#x}"
            )
        del self._allocs[addr]
        self._insert_free(addr, addr + al.size)

    # --- reporting ---------------------------------------------------------------------------
    def stats(self) -> PoolStats:
        total = sum(e - s for s, e in self._chunks)
        free = sum(e - s for s, e in self._free)
        largest = max((e - s for s, e in self._free), default=0)
        return PoolStats(total, total - free, free, largest, len(self._free), len(self._allocs))

    def leaks(self) -> list[Allocation]:
        """Allocations not freed yet, lowest address first (call at teardown)."""
        return sorted(self._allocs.values(), key=lambda a: a.addr)

    def owns(self, addr: int) -> bool:
        return any(s <= addr < e for s, e in self._chunks)

    @property
    def chunks(self) -> list[tuple[int, int]]:
        return [(s, e - s) for s, e in self._chunks]

    def __repr__(self) -> str:
        st = self.stats()
        return f"<GenPool {self.name} {st.used:#x}/{st.total:#x} used, {st.allocations} allocs>"
