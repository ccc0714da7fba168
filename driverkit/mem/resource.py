"""The kernel's resource tree (kernel/resource.c) for iomem: insert, request, split, print.

Same rules as Linux: `insert_resource` slides a new node between a parent and the nodes
it covers; `request_region` only nests under *non-busy* conflicts and refuses a busy
conflict or a straddle (-EBUSY); `reserve_region_with_split` (the "RAM buffer") claims
what is free around existing nodes. `render()` prints like /proc/iomem (r_show).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from ..errors import ResourceBusy

IORESOURCE_MEM = 0x200
IORESOURCE_SYSRAM = 0x01000000
IORESOURCE_SYSTEM_RAM = IORESOURCE_MEM | IORESOURCE_SYSRAM
IORESOURCE_EXCLUSIVE = 0x08000000
IORESOURCE_BUSY = 0x80000000


@dataclass(eq=False)
class Resource:
    start: int
    end: int  # inclusive
    name: str
    flags: int = IORESOURCE_MEM
    children: list["Resource"] = field(default_factory=list)
    parent: "Resource | None" = field(default=None, repr=False)

    @property
    def busy(self) -> bool:
        return bool(self.flags & IORESOURCE_BUSY)

    @property
    def system_ram(self) -> bool:
        return (self.flags & IORESOURCE_SYSTEM_RAM) == IORESOURCE_SYSTEM_RAM

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def overlaps(self, start: int, end: int) -> bool:
        return self.start <= end and start <= self.end

    def walk(self, depth: int = 0) -> Iterator[tuple[int, "Resource"]]:
        for c in self.children:
            yield depth, c
            yield from c.walk(depth + 1)

    def to_dict(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "name": self.name,
            "children": [c.to_dict() for c in self.children],
        }

    def __repr__(self) -> str:
        return f"<Resource {self.start:x}-{self.end:x} {self.name!r}{' busy' if self.busy else ''}>"


def _request(root: Resource, new: Resource) -> Resource | None:
    """`__request_resource`: insert as a child of root, or return the conflict (root if outside)."""
    if new.start > new.end or new.start < root.start or new.end > root.end:
        return root
    for i, c in enumerate(root.children):
        if c.start > new.end:
            root.children.insert(i, new)
            new.parent = root
            return None
        if c.end >= new.start:
            return c
    root.children.append(new)
    new.parent = root
    return None


def insert_resource(root: Resource, new: Resource) -> Resource | None:
    """`__insert_resource`: nest inside a covering node or adopt the nodes it covers."""
    parent = root
    while True:
        first = _request(parent, new)
        if first is None or first is parent:
            return first
        if first.start > new.start or first.end < new.end:
            break
        if first.start == new.start and first.end == new.end:
            break
        parent = first
    idx = parent.children.index(first)
    j = idx
    while True:
        nxt = parent.children[j]
        if nxt.start < new.start or nxt.end > new.end:
            return nxt
        if j + 1 >= len(parent.children) or parent.children[j + 1].start > new.end:
            break
        j += 1
    adopted = parent.children[idx : j + 1]
    new.children = adopted + new.children
    for c in adopted:
        c.parent = new
    parent.children[idx : j + 1] = [new]
    new.parent = parent
    return None


def insert_resource_expand_to_fit(root: Resource, new: Resource) -> None:
    while True:
        conflict = insert_resource(root, new)
        if conflict is None or conflict is root:
            return
        new.start, new.end = min(new.start, conflict.start), max(new.end, conflict.end)


def reserve_region_with_split(root: Resource, start: int, end: int, name: str) -> list[Resource]:
    """`__reserve_region_with_split` at the top level: busy pieces around existing nodes."""
    made: list[Resource] = []
    pending = [Resource(start, end, name, IORESOURCE_MEM | IORESOURCE_BUSY)]
    while pending:
        res = pending.pop(0)
        while True:
            conflict = _request(root, res)
            if conflict is None:
                made.append(res)
                break
            if conflict is root or (conflict.start <= res.start and conflict.end >= res.end):
                break
            if conflict.start > res.start:
                old_end = res.end
                res.end = conflict.start - 1
                if conflict.end < old_end:
                    pending.insert(
                        0,
                        Resource(conflict.end + 1, old_end, name, IORESOURCE_MEM | IORESOURCE_BUSY),
                    )
            else:
                res.start = conflict.end + 1
    return made


def request_region(
    root: Resource, start: int, size: int, name: str, exclusive: bool = False
) -> Resource:
    """`__request_region`: a busy node under the deepest non-busy container, else ResourceBusy."""
    if size <= 0:
        raise ResourceBusy(f"request_mem_region({start:#x}, {size:#x}): size must be > 0")
    flags = IORESOURCE_MEM | IORESOURCE_BUSY | (IORESOURCE_EXCLUSIVE if exclusive else 0)
    res = Resource(start, start + size - 1, name, flags)
    parent = root
    while True:
        conflict = _request(parent, res)
        if conflict is None:
            return res
        if conflict is not parent and not conflict.busy:
            parent = conflict
            continue
        if conflict is parent:
            why = (
                f"it straddles {conflict.start:#010x}-{conflict.end:#010x} : {conflict.name}"
                if parent is not root
                else "it is outside the address space"
            )
        else:
            why = f"{conflict.start:#010x}-{conflict.end:#010x} : {conflict.name} is busy"
        raise ResourceBusy(f"request_mem_region({start:#x}, {size:#x}) -EBUSY: {why}")


def release_region(res: Resource) -> None:
    if res.parent is not None:
        res.parent.children.remove(res)
        res.parent = None


def render(root: Resource) -> str:
    """/proc/iomem text: "%*s%0*llx-%0*llx : %s", two spaces per level, width 8."""
    lines = [f"{'':{d * 2}}{r.start:08x}-{r.end:08x} : {r.name}" for d, r in root.walk()]
    return "\n".join(lines) + ("\n" if lines else "")


def new_root() -> Resource:
    return Resource(0, (1 << 64) - 1, "PCI mem", IORESOURCE_MEM)


def find(root: Resource, start: int, end: int) -> list[tuple[int, Resource]]:
    """Every node (with depth) that overlaps [start, end]."""
    return [(d, r) for d, r in root.walk() if r.overlaps(start, end)]
