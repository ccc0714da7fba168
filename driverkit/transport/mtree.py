"""QEMU's flat memory view (`info mtree -f`): what backs each guest-physical address."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

_LINE = re.compile(
    r"^\s+([0-9a-f]+)-([0-9a-f]+) \(prio (-?\d+), ([\w/-]+)\): (\S+)(?: @([0-9a-f]+))?"
)


@dataclass(frozen=True)
class FlatRange:
    """One rendered range: [start, end] inclusive, its kind (ram, rom, i/o, romd) and region."""

    start: int
    end: int
    kind: str
    name: str
    offset: int  # offset of `start` inside the memory region `name`

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    @property
    def backing(self) -> str:
        """RAM, ROM or MMIO, as the routing layer names it."""
        if self.kind == "ram":
            return "RAM"
        if self.kind in ("rom", "romd"):
            return "ROM"
        return "MMIO"


class FlatView:
    """The address space "memory" as QEMU renders it, for lookups by address."""

    def __init__(self, ranges: list[FlatRange]) -> None:
        self.ranges = sorted(ranges, key=lambda r: r.start)
        self._starts = [r.start for r in self.ranges]

    @classmethod
    def parse(cls, text: str, address_space: str = "memory") -> "FlatView":
        """Parse HMP `info mtree -f` output, keeping the view that serves `address_space`."""
        views = text.split("FlatView #")
        for view in views[1:]:
            if f'AS "{address_space}"' not in view:
                continue
            ranges = []
            for line in view.splitlines():
                m = _LINE.match(line)
                if m:
                    start, end = int(m.group(1), 16), int(m.group(2), 16)
                    ranges.append(
                        FlatRange(start, end, m.group(4), m.group(5), int(m.group(6) or "0", 16))
                    )
            return cls(ranges)
        return cls([])

    def find(self, addr: int) -> FlatRange | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and self.ranges[i].start <= addr <= self.ranges[i].end:
            return self.ranges[i]
        return None

    def covering(self, start: int, size: int) -> list[FlatRange]:
        """The ranges overlapping [start, start+size), in order."""
        end = start + size - 1
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        out = []
        for r in self.ranges[i:]:
            if r.start > end:
                break
            if r.end >= start:
                out.append(r)
        return out

    def holes(self, start: int, size: int) -> list[tuple[int, int]]:
        """Sub-ranges of [start, start+size) that nothing backs, as (start, size)."""
        gaps, pos, end = [], start, start + size
        for r in self.covering(start, size):
            if r.start > pos:
                gaps.append((pos, r.start - pos))
            pos = max(pos, r.end + 1)
        if pos < end:
            gaps.append((pos, end - pos))
        return gaps

    def ram_of(self, backend: str) -> list[FlatRange]:
        """The ranges rendered from one RAM region (e.g. the shared backend "ram0")."""
        return [r for r in self.ranges if r.kind == "ram" and r.name == backend]
