"""BAR sizing error path, over a FAKE config space (pure logic: no QEMU device has this flaw)."""

from __future__ import annotations

import pytest

from driverkit.errors import PciError
from driverkit.pci.device import BAR0, COMMAND, PciDevice


class FakeConfig:
    """A FAKE ConfigAccess: one function whose BAR5 claims to be the low half of a 64-bit BAR."""

    size = 256
    name = "fake"

    def __init__(self) -> None:
        self.space = bytearray(256)
        self.space[0:4] = (0x11E8_1234).to_bytes(4, "little")
        self.space[COMMAND] = 0x07  # I/O, memory, bus master on

    def read(self, bdf, offset: int, width: int) -> int:
        if offset == BAR0 + 4 * 5:  # size probe and read-back: 64-bit memory, 4 KiB
            return 0xFFFFF004 if self.space[offset] == 0xFF else 0
        return int.from_bytes(self.space[offset : offset + width], "little")

    def write(self, bdf, offset: int, width: int, value: int) -> None:
        self.space[offset : offset + width] = value.to_bytes(width, "little")


def test_refused_bar_leaves_decoding_as_it_was():
    cfg = FakeConfig()
    dev = PciDevice(None, cfg, (0, 3, 0))  # type: ignore[arg-type]
    with pytest.raises(PciError, match="BAR5 is 64-bit but is the last BAR"):
        dev.size_bars()
    assert cfg.read((0, 3, 0), COMMAND, 2) == 0x07
