"""memblock, the boot-time allocator (mm/memblock.c): `memory` and `reserved` range sets.

Allocation follows `memblock_find_in_range_node()`: never page 0, clamp the end to
`current_limit`, then top-down — the highest free range that fits gives
`round_down(end - size, align)`. Ranges are kept sorted and merged, as [start, end).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PAGE = 4096


def _add(ranges: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    if start >= end:
        return ranges
    out: list[tuple[int, int]] = []
    for s, e in sorted([*ranges, (start, end)]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _sub(ranges: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    out = []
    for s, e in ranges:
        if e <= start or s >= end:
            out.append((s, e))
            continue
        if s < start:
            out.append((s, start))
        if e > end:
            out.append((end, e))
    return out


@dataclass
class Allocation:
    """One memblock allocation or reservation, for the carve-out list and the log."""

    name: str
    start: int
    size: int


@dataclass
class Memblock:
    memory: list[tuple[int, int]] = field(default_factory=list)
    reserved: list[tuple[int, int]] = field(default_factory=list)
    current_limit: int = 0  # 0 = no limit (MEMBLOCK_ALLOC_ANYWHERE)
    log: list[Allocation] = field(default_factory=list)

    def add(self, base: int, size: int) -> None:
        self.memory = _add(self.memory, base, base + size)

    def remove(self, base: int, size: int) -> None:
        self.memory = _sub(self.memory, base, base + size)

    def reserve(self, base: int, size: int, name: str = "") -> None:
        self.reserved = _add(self.reserved, base, base + size)
        if name:
            self.log.append(Allocation(name, base, size))

    def free(self, base: int, size: int) -> None:
        self.reserved = _sub(self.reserved, base, base + size)

    def trim_memory(self, align: int = PAGE) -> None:
        """`memblock_trim_memory`: drop partial pages at both ends of every region."""
        out = []
        for s, e in self.memory:
            s2 = -(-s // align) * align
            e2 = e // align * align
            if s2 < e2:
                out.append((s2, e2))
        self.memory = out

    def phys_mem_size(self) -> int:
        return sum(e - s for s, e in self.memory)

    def free_ranges(self) -> list[tuple[int, int]]:
        free = list(self.memory)
        for s, e in self.reserved:
            free = _sub(free, s, e)
        return free

    def find_top_down(self, size: int, align: int, start: int = 0, end: int = 0) -> int | None:
        if end == 0 or (self.current_limit and end > self.current_limit):
            end = self.current_limit or (1 << 64)
        start = max(start, PAGE)
        for s, e in reversed(self.free_ranges()):
            s, e = max(s, start), min(e, end)
            if e - s < size:
                continue
            cand = (e - size) // align * align
            if cand >= s:
                return cand
        return None

    def find_bottom_up(self, size: int, align: int, start: int = 0, end: int = 0) -> int | None:
        if end == 0 or (self.current_limit and end > self.current_limit):
            end = self.current_limit or (1 << 64)
        start = max(start, PAGE)
        for s, e in self.free_ranges():
            s, e = max(s, start), min(e, end)
            cand = -(-s // align) * align
            if cand + size <= e:
                return cand
        return None

    def phys_alloc_range(
        self,
        size: int,
        align: int,
        start: int = 0,
        end: int = 0,
        name: str = "",
        bottom_up: bool = False,
    ) -> int:
        """`memblock_phys_alloc_range`: reserve and return the address, or 0 on failure."""
        find = self.find_bottom_up if bottom_up else self.find_top_down
        addr = find(size, align, start, end)
        if addr is None:
            return 0
        self.reserve(addr, size, name)
        return addr
