"""What a register map is bound to: sized reads and writes by offset.

An `IoMem` is one (MMIO, RAM or ports); so is anything else with these members, e.g. a
window on a config space or a FAKE bytearray in a unit test. The regs layer never needs
more than this, so it never names the machine or the io layer for its types.
"""

from __future__ import annotations

from typing import Protocol


class RegisterIo(Protocol):
    """A window of `size` bytes that reads and writes 1/2/4/8-byte little-endian values."""

    @property
    def size(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def space(self) -> str:
        """"mem" or "io" (ports); shown in dumps."""
        ...

    @property
    def phys(self) -> int:
        """Where the window starts in its space; shown in dumps."""
        ...

    def read_width(self, off: int, width: int) -> int: ...

    def write_width(self, off: int, width: int, value: int) -> None: ...
