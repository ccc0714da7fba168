"""The seed experiment's configuration and what one run found, as typed records.

`SeedResult.to_json()` is what `scripts/demo.py --json` prints; every figure in it was
measured on the guests or computed by the model in that run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ...guest.report import RangeProbe
from ...mem import Carveout, MemPlan
from ...results import JsonResult, Row

MACHINE, MEMORY = "pc", "256M"  # the configuration linux-memory.md section 6 measured
CMDLINE = "mem=248M iomem=relaxed"  # the article's mem=, plus /dev/mem access (see step 5)
CLEAN_CMDLINE = "memmap=8M$248M"  # what works instead: a non-busy "Reserved" carve-out
ARTICLE_RANGE = (0xF800000, 8 << 20)  # the article's ioremap(0xf800000, 8M)
PAYLOAD_SIZE = 256  # bytes edu copies RAM -> device -> RAM (its buffer is 4 KiB)
DEVMEM_BYTES = 64  # how much of it the guest reads back, one devmem word at a time
GUEST_MAGIC = 0x5EEDA11C  # a word the guest writes with devmem for the host to read


@dataclass
class ModelFacts:
    """Step 1: the model's plan, and how the first guest's boot log and /proc/iomem compare."""

    plan: MemPlan
    devmem_without_relaxed: str  # the model's /dev/mem mmap verdict without iomem=relaxed
    dmesg_diff: list[str] = field(default_factory=list)
    iomem_diff: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**self.plan.to_dict(), "devmem_without_relaxed": self.devmem_without_relaxed,
                "dmesg_diff": self.dmesg_diff, "iomem_diff": self.iomem_diff}


@dataclass(frozen=True)
class Limits:
    """The allocator limits dkprobe measured (bytes, except the order and the run count)."""

    gfp_max_order: int
    kmalloc_max: int
    vmalloc_max: int
    vmalloc_runs: int
    dma_coherent_max: int


@dataclass
class BootFacts:
    """Step 2 and 6: the `mem=248M` guest, measured."""

    cmdline: str
    kernel: str
    uptime: float | None
    memory_total_kb: int | None
    iomem: list[str]  # the top-level /proc/iomem lines over the article's range
    window_resource: str | None  # the name of the resource the mem= window became
    ram_buffers: list[tuple[int, int]]
    limits: Limits
    article_range: RangeProbe
    usable_range: RangeProbe
    ioremap_error: str | None
    symbols: dict[str, bool] = field(default_factory=dict)  # kallsyms: name -> present
    largest_kmalloc_cache: int = 0


@dataclass
class PoolFacts:
    """Step 3: the carve-out as a DMA pool and the buffers taken from it."""

    start: int
    size: int
    buffers: dict[str, tuple[int, int]]  # name -> (phys, size)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "size": self.size,
                "buffers": {n: {"phys": p, "size": s} for n, (p, s) in self.buffers.items()}}


@dataclass(frozen=True)
class DmaFacts:
    """Step 4: edu's copy RAM -> device -> RAM."""

    src: int
    dst: int
    bytes: int
    ok: bool
    ms: float


@dataclass(frozen=True)
class ReadBack:
    """Step 5: the copied bytes seen by the host's ioremap and the guest's devmem."""

    host_ok: bool
    guest_ok: bool
    guest_bytes: int
    guest_wrote: int
    host_read: int
    devmem_without_relaxed: str


@dataclass
class CleanBootFacts:
    """Step 7: the `memmap=8M$248M` guest."""

    cmdline: str
    iomem: list[str]
    article_range: RangeProbe
    usable_range: RangeProbe
    devmem_ok: bool
    devmem_output: str


@dataclass
class SeedResult(JsonResult):
    """Everything one run found."""

    carveout: Carveout
    model: ModelFacts
    boot: BootFacts | None = None
    pool: PoolFacts | None = None
    dma: DmaFacts | None = None
    readback: ReadBack | None = None
    clean: CleanBootFacts | None = None  # None with --one-boot
    table: list[Row] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds since start
    arm64: Any = None  # the arm64 chapter's Arm64Facts (None with --no-arm64)

    def to_dict(self) -> dict[str, Any]:
        def plain(x: Any) -> Any:
            return None if x is None else (x.to_dict() if hasattr(x, "to_dict") else asdict(x))

        return {"carveout": self.carveout.to_dict(), "model": self.model.to_dict(),
                "boot": plain(self.boot), "pool": plain(self.pool), "dma": plain(self.dma),
                "readback": plain(self.readback), "clean": plain(self.clean),
                "table": [r.to_dict(sides=("article", "measured")) for r in self.table],
                "timings": dict(self.timings), "arm64": plain(self.arm64)}
