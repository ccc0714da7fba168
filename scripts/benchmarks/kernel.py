"""The kernel description: reading a vmlinuz (decompress + ELF section headers + BTF sizes)
against decompressing its payload alone, the part no reader can skip."""

from __future__ import annotations

import struct
import time

from driverkit.guest import GuestArtifacts
from driverkit.mem.kernel.compression import decompress
from driverkit.mem.kernel.description import _read_image

from . import Samples, figure, paired


def _payload(data: bytes) -> bytes:
    offset, length = struct.unpack_from("<II", data, 0x248)
    start = ((data[0x1F1] or 4) + 1) * 512 + offset
    return data[start : start + length]


@figure("read the guest's kernel description", unit="s",
        baseline="decompress its payload only", at_most=4.0)
async def read_description(rounds: int, scale: float) -> Samples:
    art = GuestArtifacts.locate()  # ArtifactMissing: run scripts/build-guest
    path = str(art.kernel.resolve())
    data = art.kernel.read_bytes()
    payload = _payload(data)

    def full() -> float:
        _read_image.cache_clear()  # measure the read, not the cache
        t0 = time.perf_counter()
        _read_image(path, 0, len(data), "x86_64")
        return time.perf_counter() - t0

    def base() -> float:
        t0 = time.perf_counter()
        decompress(payload)
        return time.perf_counter() - t0

    out = paired(max(3, int(5 * scale)), full, base)
    out.notes["release"] = art.kernel_release
    return out
