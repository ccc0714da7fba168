"""Facts a running Linux guest gives through its shell: kernel symbols, slab caches, and
physical memory as /dev/mem shows it (busybox devmem)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import GuestError
from .shell import GuestShell


async def kernel_symbols(shell: GuestShell, names: Iterable[str]) -> dict[str, bool]:
    """Whether each function name exists in the running kernel (/proc/kallsyms)."""
    names = tuple(names)
    words = " ".join(f"-e {n}" for n in names)
    r = await shell.run(f"grep -wF {words} /proc/kallsyms")  # -F: a regex takes seconds on TCG
    found = {line.split()[2] for line in r.output.splitlines() if len(line.split()) >= 3}
    return {n: n in found for n in names}


async def largest_kmalloc_cache(shell: GuestShell) -> int:
    """The largest generic kmalloc-N slab cache in /proc/slabinfo (bytes)."""
    text = await shell.read_file("/proc/slabinfo")
    sizes = [int(n) * (1024 if k else 1)
             for n, k in re.findall(r"^kmalloc-(\d+)(k?) ", text, re.M)]
    if not sizes:
        raise GuestError("/proc/slabinfo lists no kmalloc-N caches")
    return max(sizes)


async def devmem_read(shell: GuestShell, start: int, n: int) -> bytes:
    """`n` bytes (a multiple of 4) at physical `start`, read in the guest by busybox devmem
    (an mmap of /dev/mem, so CONFIG_IO_STRICT_DEVMEM and iomem= decide whether it works)."""
    if n <= 0 or n % 4 or start % 4:
        raise GuestError(f"devmem_read({start:#x}, {n}): start and size must be multiples of 4")
    addrs = " ".join(f"{a:#x}" for a in range(start, start + n, 4))
    r = await shell.run(f"for a in {addrs}; do devmem $a 32 || exit 1; done", check=True)
    words = [int(w, 16) for w in r.output.split()]
    if len(words) != n // 4:
        raise GuestError(f"devmem printed {len(words)} words for {n // 4} reads: {r.output!r}")
    return b"".join(w.to_bytes(4, "little") for w in words)


async def devmem_write(shell: GuestShell, addr: int, value: int) -> None:
    """Write the 32-bit `value` at physical `addr` from the guest (busybox devmem)."""
    if not 0 <= value <= 0xFFFFFFFF:
        raise GuestError(f"devmem_write({addr:#x}, {value:#x}): value is not 32-bit")
    await shell.run(f"devmem {addr:#x} 32 {value:#x}", check=True)
