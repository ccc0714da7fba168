"""A machine's resource tree: the kernel's rules from driverkit.mem.resource, behind a small API.

A request nests inside a *non-busy* resource that fully contains it (a bus window,
a BAR, "Reserved") and becomes a busy child; any overlap with a busy resource, or
a partial straddle, is refused like the kernel's -EBUSY. Renders like /proc/iomem.
"""

from __future__ import annotations

from typing import Iterator

from ..errors import BoundsError, ResourceBusy
from ..mem.resource import (
    IORESOURCE_BUSY,
    IORESOURCE_MEM,
    Resource,
    insert_resource,
    release_region,
    render,
    request_region,
)

__all__ = ["Resource", "ResourceTree"]


class ResourceTree:
    """The root of an address space (iomem_resource) with insert/request/release."""

    def __init__(self, end: int = (1 << 52) - 1, name: str = "PCI mem") -> None:
        self.root = Resource(0, end, name, IORESOURCE_MEM)

    def clear(self) -> None:
        """Forget every resource (the tree object stays, so holders keep a valid reference)."""
        self.root = Resource(0, self.root.end, self.root.name, IORESOURCE_MEM)

    def _check(self, start: int, size: int) -> None:
        if size <= 0:
            raise BoundsError(f"region size must be > 0, got {size}")
        if start < 0 or start + size - 1 > self.root.end:
            raise BoundsError(f"region {start:#x}+{size:#x} outside [0, {self.root.end:#x}]")

    def insert(self, start: int, size: int, name: str, busy: bool = False) -> Resource:
        """insert_resource: add a resource, adopting existing ones it fully contains."""
        self._check(start, size)
        flags = IORESOURCE_MEM | (IORESOURCE_BUSY if busy else 0)
        new = Resource(start, start + size - 1, name, flags)
        conflict = insert_resource(self.root, new)
        if conflict is not None:
            raise ResourceBusy(
                f"cannot insert {start:#x}-{new.end:#x} ({name}): it straddles "
                f"{conflict.start:#x}-{conflict.end:#x} {conflict.name!r}"
            )
        return new

    def claims_within(self, start: int, size: int) -> list[Resource]:
        """Busy resources that overlap [start, start+size) without containing all of it: what
        an insert would adopt silently (System RAM around a range is not one of them)."""
        end = start + size - 1
        return [r for _, r in self.root.walk() if r.busy and r.overlaps(start, end)
                and not (r.start <= start and r.end >= end)]

    def request(self, start: int, size: int, name: str) -> Resource:
        """request_mem_region: a busy region, nested under non-busy containers, or -EBUSY."""
        self._check(start, size)
        return request_region(self.root, start, size, name)

    def release(self, res: Resource) -> None:
        """release_mem_region."""
        if res.parent is None:
            raise BoundsError(f"region {res!r} is not in the tree (already released?)")
        release_region(res)

    def walk(self) -> Iterator[tuple[int, Resource]]:
        """(depth, resource) pairs in /proc/iomem order."""
        return self.root.walk()

    def render(self) -> str:
        """The tree as /proc/iomem text."""
        return render(self.root)
