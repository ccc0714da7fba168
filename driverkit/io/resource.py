"""A resource tree with the kernel's request_mem_region rules, rendered like /proc/iomem.

A request nests inside a *non-busy* resource that fully contains it (a bus window,
a BAR, "Reserved") and becomes a busy child; any overlap with a busy resource, or
a partial straddle of any resource, is refused like the kernel's -EBUSY.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BoundsError, ResourceBusy


@dataclass
class Resource:
    """[start, end] inclusive, a name, busy or not, and nested children sorted by start."""

    start: int
    end: int
    name: str
    busy: bool = False
    children: list["Resource"] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def overlaps(self, start: int, end: int) -> bool:
        return self.start <= end and start <= self.end

    def contains(self, start: int, end: int) -> bool:
        return self.start <= start and end <= self.end

    def to_json(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "name": self.name,
            "busy": self.busy,
            "children": [c.to_json() for c in self.children],
        }

    def __str__(self) -> str:
        return f"{self.start:08x}-{self.end:08x} : {self.name}"


class ResourceTree:
    """The root of an address space (iomem_resource), with request/release/insert."""

    def __init__(self, end: int = (1 << 52) - 1, name: str = "PCI mem") -> None:
        self.root = Resource(0, end, name)

    def _range(self, start: int, size: int) -> tuple[int, int]:
        if size <= 0:
            raise BoundsError(f"region size must be > 0, got {size}")
        end = start + size - 1
        if start < 0 or end > self.root.end:
            raise BoundsError(f"region {start:#x}+{size:#x} outside [0, {self.root.end:#x}]")
        return start, end

    def insert(self, start: int, size: int, name: str, busy: bool = False) -> Resource:
        """insert_resource: add a resource, adopting existing ones it fully contains."""
        start, end = self._range(start, size)
        parent = self.root
        while True:
            inner = next((c for c in parent.children if c.contains(start, end)
                          and (c.start, c.end) != (start, end)), None)
            if inner is None:
                break
            parent = inner
        new = Resource(start, end, name, busy)
        keep = []
        for c in parent.children:
            if new.contains(c.start, c.end):
                new.children.append(c)
            elif c.overlaps(start, end):
                raise ResourceBusy(
                    f"cannot insert {new} ({name}): it straddles {c.start:#x}-{c.end:#x} {c.name!r}"
                )
            else:
                keep.append(c)
        parent.children = sorted(keep + [new], key=lambda r: r.start)
        return new

    def request(self, start: int, size: int, name: str) -> Resource:
        """request_mem_region: a busy region, nested under non-busy containers, or -EBUSY."""
        start, end = self._range(start, size)
        parent = self.root
        while True:
            conflict = next((c for c in parent.children if c.overlaps(start, end)), None)
            if conflict is None:
                break
            if conflict.busy or not conflict.contains(start, end):
                how = "is busy" if conflict.busy else "is only partly covered by the request"
                raise ResourceBusy(
                    f"request_mem_region({start:#x}, {size:#x}, {name!r}) failed (-EBUSY): "
                    f"conflicts with {conflict.start:08x}-{conflict.end:08x} : {conflict.name}, "
                    f"which {how}"
                )
            parent = conflict
        new = Resource(start, end, name, busy=True)
        parent.children = sorted(parent.children + [new], key=lambda r: r.start)
        return new

    def release(self, res: Resource) -> None:
        """release_mem_region: remove a requested region (its children go with it)."""
        parent = self._parent_of(self.root, res)
        if parent is None:
            raise BoundsError(f"region {res} is not in the tree (already released?)")
        parent.children.remove(res)

    def _parent_of(self, node: Resource, res: Resource) -> Resource | None:
        for c in node.children:
            if c is res:
                return node
            if c.contains(res.start, res.end):
                found = self._parent_of(c, res)
                if found is not None:
                    return found
        return None

    def walk(self):
        """(depth, resource) pairs in /proc/iomem order."""
        stack = [(0, c) for c in reversed(self.root.children)]
        while stack:
            depth, node = stack.pop()
            yield depth, node
            stack.extend((depth + 1, c) for c in reversed(node.children))

    def render(self) -> str:
        """The tree as /proc/iomem text (kernel format: %0*llx-%0*llx : name, 2-space indent)."""
        width = 4 if self.root.end < 0x10000 else 8
        return "".join(
            f"{'':{depth * 2}}{r.start:0{width}x}-{r.end:0{width}x} : {r.name}\n"
            for depth, r in self.walk()
        )
