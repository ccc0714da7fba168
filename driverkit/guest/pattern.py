"""The test pattern dkprobe writes and verifies, so the host can compare the same bytes."""

from __future__ import annotations

import struct

from ..errors import ConfigError

DEFAULT_SEED = 0x5EED1234
_GOLDEN = 0x9E3779B1


def pattern_word(addr: int, seed: int = DEFAULT_SEED) -> int:
    """The 32-bit word at physical address `addr` (4-byte aligned): (addr>>2)*0x9E3779B1 ^ seed."""
    return (((addr >> 2) * _GOLDEN) & 0xFFFFFFFF) ^ (seed & 0xFFFFFFFF)


def pattern_bytes(start: int, size: int, seed: int = DEFAULT_SEED) -> bytes:
    """The pattern's bytes for [start, start+size), little-endian words, as the guest sees them."""
    if start % 4 or size % 4 or size <= 0:
        raise ConfigError(f"pattern range must be 4-byte aligned and non-empty: "
                          f"start={start:#x} size={size:#x}")
    words = [pattern_word(a, seed) for a in range(start, start + size, 4)]
    return struct.pack(f"<{len(words)}I", *words)
