"""PCI configuration space access methods (the bus "vtable"): x86 mechanism #1 ports.

Drivers and enumeration go through `ConfigAccess.read/write(bdf, offset, width)`,
so the same code runs over port mechanism #1, ECAM, or anything else.
"""

from __future__ import annotations

from typing import Protocol

from ..errors import AlignmentError, BoundsError, WidthError
from ..transport.qtest import QtestChannel

CONFIG_ADDRESS = 0xCF8
CONFIG_DATA = 0xCFC


def check_config_access(offset: int, width: int, limit: int) -> None:
    if width not in (1, 2, 4):
        raise WidthError(f"config access width {width} is not 1, 2 or 4")
    if offset < 0 or offset + width > limit:
        raise BoundsError(f"config offset {offset:#x}+{width} outside [0, {limit:#x})")
    if offset % width:
        raise AlignmentError(f"config offset {offset:#x} not aligned to width {width}")


class ConfigAccess(Protocol):
    """Read and write a function's configuration space by (bus, device, function)."""

    size: int

    def read(self, bdf: tuple[int, int, int], offset: int, width: int) -> int: ...

    def write(self, bdf: tuple[int, int, int], offset: int, width: int, value: int) -> None: ...


class PortConfigAccess:
    """Configuration mechanism #1 through ports 0xCF8/0xCFC (only when no guest code runs)."""

    size = 256

    def __init__(self, qtest: QtestChannel) -> None:
        self._qt = qtest

    def _select(self, bdf: tuple[int, int, int], offset: int) -> None:
        bus, dev, fn = bdf
        if not (0 <= bus < 256 and 0 <= dev < 32 and 0 <= fn < 8):
            raise BoundsError(f"bad PCI address {bus:02x}:{dev:02x}.{fn}")
        self._qt.pio_write(
            CONFIG_ADDRESS, 4, (1 << 31) | (bus << 16) | (dev << 11) | (fn << 8) | (offset & 0xFC)
        )

    def read(self, bdf: tuple[int, int, int], offset: int, width: int) -> int:
        check_config_access(offset, width, self.size)
        self._select(bdf, offset)
        return self._qt.pio_read(CONFIG_DATA + (offset & 3), width)

    def write(self, bdf: tuple[int, int, int], offset: int, width: int, value: int) -> None:
        check_config_access(offset, width, self.size)
        self._select(bdf, offset)
        self._qt.pio_write(CONFIG_DATA + (offset & 3), width, value)
