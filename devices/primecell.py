"""ARM PrimeCell identification registers (0xfe0-0xffc): shared by PL011, PL031, PL061."""

from __future__ import annotations

from construct import Int32ul

from driverkit.regs import RO, Register


def id_register(index: int, value: int) -> Register:
    """PeriphID0-3 (index 0-3) or PCellID0-3 (4-7): one ID byte in a 32-bit word."""
    return Register(0xFE0 + 4 * index, Int32ul, RO, reset=value)


def decode_id(words: list[int]) -> dict:
    """Part number, designer and revision from PeriphID0-3; the cell ID as an int."""
    pid = sum((w & 0xFF) << (8 * i) for i, w in enumerate(words[:4]))
    cid = sum((w & 0xFF) << (8 * i) for i, w in enumerate(words[4:]))
    return {"part": pid & 0xFFF, "designer": (pid >> 12) & 0xFF, "revision": (pid >> 20) & 0xF,
            "cell_id": cid}
