"""IoMem: a bounds- and alignment-checked window on a physical range, like the kernel's __iomem.

Accessors follow Linux: readb/readw/readl/readq are little-endian, the *_be
variants byte-swap (ioread32be). Every access is checked in Python first, so a
bad offset, width or value never reaches QEMU.
"""

from __future__ import annotations

from typing import Callable, Sequence

from ..errors import (
    AlignmentError,
    ArgumentTypeError,
    BoundsError,
    MappingError,
    ValueRangeError,
    WidthError,
)
from ..transport.base import WIDTHS, Bus

Tracer = Callable[..., None]
"""Called as tracer(op, phys, width, value[, data]): op "r"/"w" single, "R"/"W"/"S" bulk (with the bytes)."""


def _check_int(value: object, what: str) -> None:
    if value.__class__ is not int and (not isinstance(value, int) or isinstance(value, bool)):
        raise ArgumentTypeError(f"{what} must be an int, got {type(value).__name__} {value!r}")


def _swap(value: int, width: int) -> int:
    return int.from_bytes(value.to_bytes(width, "little"), "big")


class IoMem:
    """A mapped physical range [phys, phys+size) on a bus (memory or I/O ports)."""

    __slots__ = ("phys", "size", "name", "space", "_bus", "_tracer", "_mapped", "__weakref__")

    def __init__(
        self,
        bus: Bus,
        phys: int,
        size: int,
        *,
        name: str = "",
        space: str = "mem",
        tracer: Tracer | None = None,
    ) -> None:
        if size <= 0:
            raise MappingError(f"ioremap of size {size}: size must be > 0")
        self.phys = phys
        self.size = size
        self.name = name
        self.space = space
        self._bus = bus
        self._tracer = tracer
        self._mapped = True

    def __repr__(self) -> str:
        state = "" if self._mapped else ", unmapped"
        label = f" {self.name!r}" if self.name else ""
        return f"<IoMem{label} {self.space} {self.phys:#x}+{self.size:#x}{state}>"

    @property
    def page_range(self) -> tuple[int, int]:
        """(start, size) of the whole pages the mapping covers, as the kernel maps them."""
        start = self.phys & ~0xFFF
        return start, ((self.phys + self.size + 0xFFF) & ~0xFFF) - start

    @property
    def mapped(self) -> bool:
        return self._mapped

    def unmap(self) -> None:
        """Invalidate the mapping (its owner's iounmap calls this); later accesses raise."""
        self._mapped = False

    # --- checks ---------------------------------------------------------------------------

    def _check(self, off: int, width: int) -> int:
        if not self._mapped:
            raise MappingError(f"{self!r}: access after iounmap")
        _check_int(off, "offset")
        if width.__class__ is not int or width not in WIDTHS:
            raise WidthError(f"width {width} bytes is not one of 1, 2, 4, 8")
        if off < 0 or off + width > self.size:
            raise BoundsError(
                f"offset {off:#x} width {width} outside mapping of size {self.size:#x}"
            )
        addr = self.phys + off
        if addr % width:
            raise AlignmentError(f"address {addr:#x} (offset {off:#x}) not aligned to width {width}")
        return addr

    def _check_range(self, off: int, n: int) -> int:
        if not self._mapped:
            raise MappingError(f"{self!r}: access after iounmap")
        _check_int(off, "offset")
        _check_int(n, "length")
        if n < 0:
            raise BoundsError(f"negative length {n}")
        if off < 0 or off + n > self.size:
            raise BoundsError(f"range {off:#x}+{n:#x} outside mapping of size {self.size:#x}")
        return self.phys + off

    # --- generic sized access -------------------------------------------------------------

    def read_width(self, off: int, width: int) -> int:
        """Read `width` bytes (1/2/4/8) at `off`, little-endian."""
        addr = self._check(off, width)
        value = self._bus.read(addr, width)
        if self._tracer is not None:
            self._tracer("r", addr, width, value)
        return value

    def write_width(self, off: int, width: int, value: int) -> None:
        """Write `width` bytes at `off`; refuses values that do not fit."""
        addr = self._check(off, width)
        self._check_value(value, width)
        if self._tracer is not None:
            self._tracer("w", addr, width, value)
        self._bus.write(addr, width, value)

    # --- kernel-style accessors (reads unrolled: they are the hot path) -------------------

    def readb(self, off: int) -> int:
        if off.__class__ is not int or not self._mapped or off < 0 or off + 1 > self.size:
            self._check(off, 1)  # raises the precise error
        addr = self.phys + off
        value = self._bus.read(addr, 1)
        if self._tracer is not None:
            self._tracer("r", addr, 1, value)
        return value

    def readw(self, off: int) -> int:
        if (off.__class__ is not int or not self._mapped or off < 0 or off + 2 > self.size
                or (self.phys + off) % 2):
            self._check(off, 2)  # raises the precise error
        addr = self.phys + off
        value = self._bus.read(addr, 2)
        if self._tracer is not None:
            self._tracer("r", addr, 2, value)
        return value

    def readl(self, off: int) -> int:
        if (off.__class__ is not int or not self._mapped or off < 0 or off + 4 > self.size
                or (self.phys + off) % 4):
            self._check(off, 4)  # raises the precise error
        addr = self.phys + off
        value = self._bus.read(addr, 4)
        if self._tracer is not None:
            self._tracer("r", addr, 4, value)
        return value

    def readq(self, off: int) -> int:
        if (off.__class__ is not int or not self._mapped or off < 0 or off + 8 > self.size
                or (self.phys + off) % 8):
            self._check(off, 8)  # raises the precise error
        addr = self.phys + off
        value = self._bus.read(addr, 8)
        if self._tracer is not None:
            self._tracer("r", addr, 8, value)
        return value

    def writeb(self, off: int, value: int) -> None:
        if (off.__class__ is not int or not self._mapped or off < 0 or off + 1 > self.size
                or value.__class__ is not int or value < 0 or value >> 8):
            self._check(off, 1)  # raises the precise error
            self._check_value(value, 1)
        addr = self.phys + off
        if self._tracer is not None:
            self._tracer("w", addr, 1, value)
        self._bus.write(addr, 1, value)

    def writew(self, off: int, value: int) -> None:
        if (off.__class__ is not int or not self._mapped or off < 0 or off + 2 > self.size or (self.phys + off) % 2
                or value.__class__ is not int or value < 0 or value >> 16):
            self._check(off, 2)  # raises the precise error
            self._check_value(value, 2)
        addr = self.phys + off
        if self._tracer is not None:
            self._tracer("w", addr, 2, value)
        self._bus.write(addr, 2, value)

    def writel(self, off: int, value: int) -> None:
        if (off.__class__ is not int or not self._mapped or off < 0 or off + 4 > self.size or (self.phys + off) % 4
                or value.__class__ is not int or value < 0 or value >> 32):
            self._check(off, 4)  # raises the precise error
            self._check_value(value, 4)
        addr = self.phys + off
        if self._tracer is not None:
            self._tracer("w", addr, 4, value)
        self._bus.write(addr, 4, value)

    def writeq(self, off: int, value: int) -> None:
        if (off.__class__ is not int or not self._mapped or off < 0 or off + 8 > self.size or (self.phys + off) % 8
                or value.__class__ is not int or value < 0 or value >> 64):
            self._check(off, 8)  # raises the precise error
            self._check_value(value, 8)
        addr = self.phys + off
        if self._tracer is not None:
            self._tracer("w", addr, 8, value)
        self._bus.write(addr, 8, value)

    def readw_be(self, off: int) -> int:
        return _swap(self.read_width(off, 2), 2)

    def readl_be(self, off: int) -> int:
        return _swap(self.read_width(off, 4), 4)

    def readq_be(self, off: int) -> int:
        return _swap(self.read_width(off, 8), 8)

    def writew_be(self, off: int, value: int) -> None:
        self._check_value(value, 2)
        self.write_width(off, 2, _swap(value, 2))

    def writel_be(self, off: int, value: int) -> None:
        self._check_value(value, 4)
        self.write_width(off, 4, _swap(value, 4))

    def writeq_be(self, off: int, value: int) -> None:
        self._check_value(value, 8)
        self.write_width(off, 8, _swap(value, 8))

    @staticmethod
    def _check_value(value: int, width: int) -> None:
        _check_int(value, "value")
        if value < 0 or value >> (8 * width):
            raise ValueRangeError(f"value {value!r} does not fit in {width * 8} bits")

    # --- many registers -----------------------------------------------------------------------

    def read_many(self, offsets: Sequence[int], width: int) -> list[int]:
        """Read `width` bytes at each offset, pipelined on the wire; values in the same order."""
        if isinstance(offsets, (str, bytes)) or not isinstance(offsets, Sequence):
            raise ArgumentTypeError(f"offsets must be a sequence of ints, got "
                                    f"{type(offsets).__name__}")
        addrs = [self._check(off, width) for off in offsets]
        many = getattr(self._bus, "read_many", None)
        values = many(addrs, width) if many is not None else [
            self._bus.read(a, width) for a in addrs]
        if self._tracer is not None:
            batch = getattr(self._tracer, "many", None)
            if batch is not None:
                batch(addrs, width, values)
            else:
                for addr, value in zip(addrs, values):
                    self._tracer("r", addr, width, value)
        return values

    # --- bulk -----------------------------------------------------------------------------

    def read(self, off: int, n: int) -> bytes:
        """memcpy_fromio: n bytes from off."""
        addr = self._check_range(off, n)
        if n == 0:
            return b""
        data = self._bus.read_bytes(addr, n)
        if self._tracer is not None:
            self._tracer("R", addr, n, 0, data)
        return data

    def readinto(self, off: int, buf: bytearray | memoryview) -> int:
        """Fill a writable buffer from `off` (len(buf) bytes): one copy from shared RAM, the
        decoded b64read elsewhere; returns the count. (A trace that records makes a copy
        of its own: `m.trace.enabled = False` for bulk transfers.)"""
        dst = memoryview(buf).cast("B")
        n = len(dst)
        addr = self._check_range(off, n)
        if dst.readonly:
            raise MappingError("readinto needs a writable buffer")
        if n == 0:
            return 0
        into = getattr(self._bus, "readinto", None)
        if into is not None:
            into(addr, dst)
        else:
            dst[:] = self._bus.read_bytes(addr, n)
        if self._tracer is not None:
            self._tracer("R", addr, n, 0, dst)  # copied only while the trace records
        return n

    def view(self, off: int, n: int) -> memoryview:
        """A writable memoryview over [off, off+n) of guest RAM, aliasing it (no copy).

        Only RAM that QEMU routes to the shared backend can be viewed; elsewhere this raises.
        Accesses through a view are not traced. It is released (ValueError on use) when
        the range stops being RAM, at iounmap, and when the machine closes.
        """
        addr = self._check_range(off, n)
        make = getattr(self._bus, "view", None)
        if make is None:
            raise MappingError(f"{self!r}: a view needs guest RAM mapped into this process "
                               "(shared_ram=True); use read()/readinto()")
        return make(addr, n)

    def write(self, off: int, data: bytes | bytearray | memoryview) -> None:
        """memcpy_toio: write data at off (one copy, straight from the caller's buffer)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ArgumentTypeError(f"data must be bytes-like, got {type(data).__name__}")
        src = data if isinstance(data, bytes) else memoryview(data).cast("B")
        addr = self._check_range(off, len(src))
        if not src:
            return
        if self._tracer is not None:
            self._tracer("W", addr, len(src), 0, src)  # a buffer is copied only if recorded
        self._bus.write_bytes(addr, src)

    def memset(self, off: int, byte: int, n: int) -> None:
        """memset_io: fill n bytes at off with byte."""
        addr = self._check_range(off, n)
        _check_int(byte, "memset byte")
        if not 0 <= byte <= 0xFF:
            raise ValueRangeError(f"memset byte {byte!r} is not 0..255")
        if n == 0:
            return
        if self._tracer is not None:
            self._tracer("S", addr, n, byte)
        self._bus.memset(addr, n, byte)
