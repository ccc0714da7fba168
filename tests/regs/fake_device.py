"""FAKE buses for pure-logic unit tests of driverkit.regs (never a stand-in for QEMU).

FakeDevice wraps transport.MemoryBus (itself labelled fake) and gives chosen
offsets hardware-like write/read rules, so the layout check's logic (RO, W1C, RC,
inverted read-back) can be exercised without a machine. Real-device behaviour is
tested against QEMU in test_hpet_qemu.py / test_edu_qemu.py.
"""

from __future__ import annotations

from collections.abc import Callable

from driverkit.io import IoMem
from driverkit.transport import MemoryBus


class FakeDevice(MemoryBus):
    """A labelled fake bus: plain memory, except offsets given rules (32-bit accesses)."""

    label = "fake"

    def __init__(self, size: int = 0x1000) -> None:
        super().__init__(size)
        self.ro: set[int] = set()  # writes ignored
        self.w1c: set[int] = set()  # writing 1 clears
        self.rc: set[int] = set()  # reading clears
        self.invert: set[int] = set()  # stores ~value (edu liveness)
        self.log: list[tuple[str, int, int, int]] = []

    def read(self, addr: int, width: int) -> int:
        value = super().read(addr, width)
        self.log.append(("r", addr, width, value))
        if addr in self.rc:
            super().write(addr, width, 0)
        return value

    def write(self, addr: int, width: int, value: int) -> None:
        self.log.append(("w", addr, width, value))
        if addr in self.ro:
            return
        if addr in self.w1c:
            value = super().read(addr, width) & ~value
        if addr in self.invert:
            value = ~value & ((1 << (8 * width)) - 1)
        super().write(addr, width, value)

    def poke(self, addr: int, width: int, value: int) -> None:
        """Set device state behind the register's back (hardware setting a status bit)."""
        MemoryBus.write(self, addr, width, value)


def fake_iomem(size: int = 0x1000, tracer: Callable | None = None) -> IoMem:
    """IoMem over a plain fake bus: IoMem(MemoryBus(size), 0, size)."""
    return IoMem(MemoryBus(size), 0, size, name="fake", tracer=tracer)


def fake_device_iomem(dev: FakeDevice) -> IoMem:
    return IoMem(dev, 0, len(dev.mem), name="fake-device")
