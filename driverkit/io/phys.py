"""What the io layer needs of guest-physical memory: QEMU's map and bulk reads and writes.

A machine's address space provides it; DMA buffers and anything else that moves bytes
to or from guest RAM take this protocol, never a Machine.
"""

from __future__ import annotations

from typing import Protocol

from ..transport.mtree import FlatView


class PhysMemory(Protocol):
    """Guest-physical memory: what backs each address now, and bulk access to it."""

    @property
    def flat(self) -> FlatView:
        """QEMU's flat view of the memory address space (current routing)."""
        ...

    def read_phys(self, addr: int, n: int) -> bytes: ...

    def write_phys(self, addr: int, data: bytes) -> None: ...
