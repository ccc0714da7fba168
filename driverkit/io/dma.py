"""DMA buffers: guest-physical memory no guest kernel owns, handed out from a gen_pool.

The pool sits over RAM the framework reserves (bare firmware: the top of low RAM, below
256 MiB so 28-bit DMA masks such as edu's reach it) or over a carve-out the caller made
with `mem=`/`memmap=` and passes in with `use_region(start, size)`. Every buffer remembers
where it was allocated; buffers still held when the machine closes are reported by name.
"""

from __future__ import annotations

import traceback
import warnings

from ..errors import BoundsError, DmaError, ResourceBusy
from ..mem.pool import GenPool, PoolStats
from .phys import PhysMemory
from .resource import ResourceTree

DEFAULT_POOL_SIZE = 4 << 20
DEFAULT_POOL_CEILING = 1 << 28  # keep the default pool reachable by 28-bit DMA masks
FIRMWARE_GUARD = 16 << 20  # SeaBIOS keeps tables at the top of low RAM
DEFAULT_ALIGN = 64  # a cache line, like dma_alloc_coherent's minimum in practice
MIN_ALLOC_ORDER = 6


class DmaLeakWarning(ResourceWarning):
    """DMA buffers were still allocated when their machine closed."""


def _caller_site() -> str:
    """file:line (function) of the first frame outside this module."""
    for frame in reversed(traceback.extract_stack()[:-1]):
        if frame.filename != __file__:
            return f"{frame.filename}:{frame.lineno} ({frame.name})"
    return "?"


class DmaBuffer:
    """A guest-physical buffer: `phys` for the device, read()/write() for Python."""

    def __init__(self, pool: "DmaPool", phys: int, size: int, name: str, site: str) -> None:
        self.pool = pool
        self.phys = phys
        self.size = size
        self.name = name
        self.site = site
        self.freed = False

    def __repr__(self) -> str:
        state = " freed" if self.freed else ""
        label = f" {self.name!r}" if self.name else ""
        return f"<DmaBuffer{label} {self.phys:#x}+{self.size:#x}{state} from {self.site}>"

    def _check(self, offset: int, n: int) -> None:
        if self.freed:
            raise DmaError(f"{self!r}: used after free")
        if not isinstance(offset, int) or offset < 0 or n < 0 or offset + n > self.size:
            raise BoundsError(f"DMA buffer access {offset!r}+{n:#x} outside [0, {self.size:#x})")

    def read(self, offset: int = 0, n: int | None = None) -> bytes:
        """The buffer's bytes as the device left them (all of it by default)."""
        n = self.size - offset if n is None else n
        self._check(offset, n)
        return self.pool.memory.read_phys(self.phys + offset, n)

    def write(self, data: bytes, offset: int = 0) -> None:
        """Put bytes where the device will read them."""
        self._check(offset, len(data))
        self.pool.memory.write_phys(self.phys + offset, bytes(data))

    def fill(self, byte: int = 0) -> None:
        self.write(bytes([byte]) * self.size)

    def free(self) -> None:
        """Return the buffer to its pool; a second free raises DmaError."""
        if self.freed:
            raise DmaError(f"{self!r}: double free")
        self.pool._release(self)

    def __enter__(self) -> "DmaBuffer":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.freed:
            self.free()


class DmaPool:
    """`m.dma`: alloc(size, align) over one region of RAM nobody else uses.

    `guest_kernel`: a Linux guest owns RAM, so there is no default region (use_region a
    carve-out). `firmware_guard`: a real firmware keeps tables at the top of low RAM.
    """

    def __init__(self, memory: PhysMemory, resources: ResourceTree, *,
                 guest_kernel: bool = False, firmware_guard: bool = False) -> None:
        self.memory = memory
        self.resources = resources
        self.guest_kernel = guest_kernel
        self.firmware_guard = firmware_guard
        self._pool: GenPool | None = None
        self._buffers: dict[int, DmaBuffer] = {}

    # --- the region ----------------------------------------------------------------------

    def use_region(self, start: int, size: int) -> None:
        """Serve buffers from [start, start+size): a carve-out the guest kernel was told to keep
        off (memmap=SIZE$START or above mem=). Must be RAM; replaces the default region if no
        buffer was handed out yet."""
        if self._buffers:
            raise DmaError(f"use_region({start:#x}, {size:#x}): {len(self._buffers)} buffers "
                           "are still allocated from the current region")
        if size <= 0 or start < 0 or start % 4096 or size % 4096:
            raise DmaError(f"use_region({start:#x}, {size:#x}): start and size must be "
                           "page-aligned, size > 0")
        not_ram = [(r.start, r.end) for r in self.memory.flat.ranges
                   if r.backing != "RAM" and r.start < start + size and start <= r.end]
        holes = self.memory.flat.holes(start, size)
        if not_ram or holes:
            what = ", ".join(f"{s:#x}-{e:#x}" for s, e in not_ram[:3]) or \
                ", ".join(f"{s:#x}+{n:#x}" for s, n in holes[:3])
            raise DmaError(f"use_region({start:#x}, {size:#x}): not all RAM ({what} is not)")
        self._install(start, size)

    def _install(self, start: int, size: int) -> None:
        inside = self.resources.claims_within(start, size)
        if inside:
            raise DmaError(f"DMA region {start:#x}+{size:#x} clashes with a claimed region: "
                           + ", ".join(f"{r.start:#x}-{r.end:#x} {r.name!r}" for r in inside[:3]))
        try:
            self.resources.insert(start, size, "driverkit DMA pool", busy=True)
        except ResourceBusy as exc:
            raise DmaError(f"DMA region {start:#x}+{size:#x} clashes with a claimed region: "
                           f"{exc}") from exc
        self._pool = GenPool(start, size, MIN_ALLOC_ORDER, name=f"dma@{start:#x}")

    def _default_region(self) -> tuple[int, int]:
        if self.guest_kernel:
            raise DmaError(
                "a Linux guest owns RAM: boot it with a carve-out (e.g. memmap=4M$0xf800000, "
                "or mem= below the RAM size) and call m.dma.use_region(start, size)")
        low = [r for r in self.memory.flat.ranges if r.backing == "RAM" and r.end < 1 << 32]
        if not low:
            raise DmaError("no RAM below 4 GiB for the default DMA pool; call use_region()")
        top = max(r.end + 1 for r in low)
        if self.firmware_guard:
            top -= FIRMWARE_GUARD
        end = top if min(r.start for r in low) >= DEFAULT_POOL_CEILING else \
            min(top, DEFAULT_POOL_CEILING)
        return end - DEFAULT_POOL_SIZE, DEFAULT_POOL_SIZE

    @property
    def region(self) -> tuple[int, int] | None:
        """(start, size) of the pool, once it exists."""
        return self._pool.chunks[0] if self._pool else None

    def _gen_pool(self) -> GenPool:
        if self._pool is None:
            start, size = self._default_region()
            self.use_region(start, size)
        assert self._pool is not None
        return self._pool

    # --- buffers --------------------------------------------------------------------------

    def alloc(self, size: int, align: int = DEFAULT_ALIGN, *, name: str = "",
              dma_mask: int | None = None, zero: bool = True) -> DmaBuffer:
        """A buffer of `size` bytes aligned to `align`, below `dma_mask` if given, zeroed."""
        pool = self._gen_pool()
        site = _caller_site()
        try:
            phys = pool.alloc(size, align, owner=name or site)
        except Exception as exc:
            raise DmaError(f"dma alloc of {size!r} bytes (align {align!r}) failed: {exc}") from exc
        buf = DmaBuffer(self, phys, size, name, site)
        if dma_mask is not None and phys + size - 1 > dma_mask:
            pool.free(phys)
            raise DmaError(f"dma alloc of {size:#x} bytes: the pool gives {phys:#x}, above the "
                           f"DMA mask {dma_mask:#x}; use_region() a lower carve-out")
        self._buffers[phys] = buf
        if zero:
            buf.fill(0)
        return buf

    def _release(self, buf: DmaBuffer) -> None:
        assert self._pool is not None
        self._pool.free(buf.phys)
        del self._buffers[buf.phys]
        buf.freed = True

    @property
    def buffers(self) -> list[DmaBuffer]:
        """Buffers not freed yet, lowest address first."""
        return [self._buffers[k] for k in sorted(self._buffers)]

    def stats(self) -> PoolStats | None:
        return self._pool.stats() if self._pool else None

    def report_leaks(self) -> list[DmaBuffer]:
        """Warn (DmaLeakWarning) about every buffer still held, with its allocation site."""
        leaked = self.buffers
        if leaked:
            lines = "\n".join(f"  {b.phys:#x}+{b.size:#x} {b.name or '(unnamed)'} "
                              f"allocated at {b.site}" for b in leaked)
            warnings.warn(DmaLeakWarning(f"{len(leaked)} DMA buffer(s) not freed when the "
                                         f"machine closed:\n{lines}"), stacklevel=2)
        return leaked
