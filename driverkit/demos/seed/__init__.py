"""The seed article's experiment, reproduced on a real Linux 6.1 guest (scripts/demo).

The article (an old Linux-driver blog post) says: boot with `mem=248M` on a 256 MiB machine,
then `ioremap(0xf800000, 8M)` the top 8 MiB the kernel no longer uses; and it tabulates what
`__get_free_pages`, `kmem_cache_alloc`, `kmalloc`, `vmalloc`, `dma_alloc_coherent`, `ioremap`
and `alloc_bootmem` can give. `run()` checks all of it:

1. the allocator model (driverkit.mem) predicts the map and names the usable carve-out;
2. the guest boots (QEMU pc, 256M, SeaBIOS, `mem=248M iomem=relaxed`, with edu) and its
   dkprobe module measures the allocators and the article's `ioremap`;
3. the carve-out becomes a DMA pool (`m.dma.use_region`); a Python edu driver DMAs
   RAM -> device -> RAM through buffers in it;
4. the bytes are read back on the host (`m.ioremap`) and inside the guest (busybox `devmem`);
5. a second boot with `memmap=8M$248M` shows the clean way to carve out the top of RAM;
6. the article's table is printed next to the measured figures, with a verdict per row.

Everything measured comes from the real boots; nothing here is a stored answer.
Modules: facts (the configuration and the typed results), table (the article's claims
against the facts), run (the steps).
"""

from .facts import (
    ARTICLE_RANGE,
    CLEAN_CMDLINE,
    CMDLINE,
    GUEST_MAGIC,
    MACHINE,
    MEMORY,
    BootFacts,
    CleanBootFacts,
    Limits,
    SeedResult,
)
from .run import run
from .table import comparison, table_lines

__all__ = [
    "ARTICLE_RANGE",
    "CLEAN_CMDLINE",
    "CMDLINE",
    "GUEST_MAGIC",
    "MACHINE",
    "MEMORY",
    "BootFacts",
    "CleanBootFacts",
    "Limits",
    "SeedResult",
    "comparison",
    "run",
    "table_lines",
]
