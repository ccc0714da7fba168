"""The interface every transport offers to the I/O layer: sized reads and writes by address.

Widths are in bytes (1, 2, 4, 8). Values are little-endian integers, as QEMU's
qtest and the kernel's readl see them. Addresses are validated by the caller
(IoMem) and again by the transport before anything is sent to QEMU.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..errors import BoundsError

WIDTHS = (1, 2, 4, 8)


@runtime_checkable
class Bus(Protocol):
    """A physical address space (memory or ports) that can be read and written."""

    def read(self, addr: int, width: int) -> int: ...

    def write(self, addr: int, width: int, value: int) -> None: ...

    def read_bytes(self, addr: int, n: int) -> bytes: ...

    def write_bytes(self, addr: int, data: bytes | memoryview) -> None: ...

    def memset(self, addr: int, n: int, byte: int) -> None: ...


class MemoryBus:
    """A FAKE bus over a bytearray, for unit tests of pure logic only (never stands in for QEMU)."""

    label = "fake"

    def __init__(self, size: int, base: int = 0) -> None:
        self.base = base
        self.mem = bytearray(size)

    def _off(self, addr: int, n: int) -> int:
        off = addr - self.base
        if off < 0 or off + n > len(self.mem):
            raise BoundsError(f"fake bus: {addr:#x}+{n} outside [{self.base:#x}, +{len(self.mem):#x})")
        return off

    def read(self, addr: int, width: int) -> int:
        off = self._off(addr, width)
        return int.from_bytes(self.mem[off : off + width], "little")

    def write(self, addr: int, width: int, value: int) -> None:
        off = self._off(addr, width)
        self.mem[off : off + width] = value.to_bytes(width, "little")

    def read_bytes(self, addr: int, n: int) -> bytes:
        off = self._off(addr, n)
        return bytes(self.mem[off : off + n])

    def write_bytes(self, addr: int, data: bytes | memoryview) -> None:
        off = self._off(addr, len(data))
        self.mem[off : off + len(data)] = data

    def memset(self, addr: int, n: int, byte: int) -> None:
        off = self._off(addr, n)
        self.mem[off : off + n] = bytes([byte]) * n
