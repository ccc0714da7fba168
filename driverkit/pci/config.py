"""PCI configuration space access methods (the bus "vtable"): x86 mechanism #1 ports and ECAM.

Drivers and enumeration go through `ConfigAccess.read/write(bdf, offset, width)`,
so the same code runs over port mechanism #1, ECAM, or anything else. Both methods sit on
a `transport.base.Bus` (the host's ports or memory), never on a QEMU channel directly.
"""

from __future__ import annotations

from typing import Protocol

from ..errors import AlignmentError, BoundsError, WidthError
from ..transport.base import Bus

CONFIG_ADDRESS = 0xCF8
CONFIG_DATA = 0xCFC
ECAM_FUNCTION_SIZE = 4096

BDF = tuple[int, int, int]


def check_config_access(offset: int, width: int, limit: int) -> None:
    if width not in (1, 2, 4):
        raise WidthError(f"config access width {width} is not 1, 2 or 4")
    if not isinstance(offset, int) or offset < 0 or offset + width > limit:
        raise BoundsError(f"config offset {offset!r}+{width} outside [0, {limit:#x})")
    if offset % width:
        raise AlignmentError(f"config offset {offset:#x} not aligned to width {width}")


def check_bdf(bdf: BDF, buses: int = 256) -> None:
    bus, dev, fn = bdf
    if not (0 <= bus < buses and 0 <= dev < 32 and 0 <= fn < 8):
        raise BoundsError(f"bad PCI address {bus:02x}:{dev:02x}.{fn} "
                          f"(bus < {buses}, device < 32, function < 8)")


class ConfigAccess(Protocol):
    """Read and write a function's configuration space by (bus, device, function)."""

    size: int
    name: str

    def read(self, bdf: BDF, offset: int, width: int) -> int: ...

    def write(self, bdf: BDF, offset: int, width: int, value: int) -> None: ...


class PortConfigAccess:
    """Configuration mechanism #1 through ports 0xCF8/0xCFC (only when no guest code runs:
    the address/data pair is not atomic against a guest that also uses it)."""

    size = 256
    name = "mechanism #1 (ports 0xcf8/0xcfc)"

    def __init__(self, ports: Bus) -> None:
        self._ports = ports

    def _select(self, bdf: BDF, offset: int) -> None:
        check_bdf(bdf)
        bus, dev, fn = bdf
        self._ports.write(
            CONFIG_ADDRESS, 4, (1 << 31) | (bus << 16) | (dev << 11) | (fn << 8) | (offset & 0xFC)
        )

    def read(self, bdf: BDF, offset: int, width: int) -> int:
        check_config_access(offset, width, self.size)
        self._select(bdf, offset)
        return self._ports.read(CONFIG_DATA + (offset & 3), width)

    def write(self, bdf: BDF, offset: int, width: int, value: int) -> None:
        check_config_access(offset, width, self.size)
        self._select(bdf, offset)
        self._ports.write(CONFIG_DATA + (offset & 3), width, value)


class EcamConfigAccess:
    """Enhanced configuration access: each function's 4 KiB at base + (bus<<20 | dev<<15 | fn<<12).

    One MMIO access per config access, so it is safe beside a running guest.
    """

    size = ECAM_FUNCTION_SIZE

    def __init__(self, mem: Bus, base: int, buses: int = 256) -> None:
        self._mem = mem
        self.base = base
        self.buses = buses
        self.name = f"ECAM at {base:#x} ({buses} buses)"

    def address(self, bdf: BDF, offset: int = 0) -> int:
        check_bdf(bdf, self.buses)
        bus, dev, fn = bdf
        return self.base + ((bus << 20) | (dev << 15) | (fn << 12)) + offset

    def read(self, bdf: BDF, offset: int, width: int) -> int:
        check_config_access(offset, width, self.size)
        return self._mem.read(self.address(bdf, offset), width)

    def write(self, bdf: BDF, offset: int, width: int, value: int) -> None:
        check_config_access(offset, width, self.size)
        self._mem.write(self.address(bdf, offset), width, value)
