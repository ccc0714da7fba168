"""Runtime allocator limits of a kernel version and config (x86_64, 4 KiB pages).

* Buddy: MAX_ORDER 11 (exclusive) up to 6.3, MAX_ORDER 10 (inclusive) from 6.4, renamed
  MAX_PAGE_ORDER in 6.8: the largest `__get_free_pages` block is order 10 = 4 MiB either way.
* kmalloc (SLUB): caches 8..8K (plus 96 and 192); above KMALLOC_MAX_CACHE_SIZE (8K) the page
  allocator, rounded to a power-of-two number of pages; KMALLOC_MAX_SIZE = 4 MiB.
  SLAB (<= 6.7, when configured) keeps caches up to 2^min(MAX_ORDER+PAGE_SHIFT-1, 25).
* vmalloc: pages one by one (physically discontiguous), so bounded by free memory, not by
  contiguity; the area is 32 TiB with 4-level paging.
* dma_alloc_coherent (dma-direct, no IOMMU): CMA when present (size > one page), else
  alloc_pages — so 4 MiB; the zone comes from the coherent mask (24 bits: ZONE_DMA, 32 bits:
  ZONE_DMA32, 64: any). A CMA area above the mask is unusable for that device.
"""

from __future__ import annotations

from .boot import BootState
from .kconfig import KernelConfig

PAGE_SHIFT = 12
PAGE = 1 << PAGE_SHIFT
MiB = 1 << 20


def max_page_order(kconfig: KernelConfig) -> int:
    """Largest buddy order (inclusive) for this kernel."""
    forced = kconfig.value("ARCH_FORCE_MAX_ORDER") or kconfig.value("FORCE_MAX_ZONEORDER")
    if kconfig.version >= (6, 4, 0):
        return int(forced, 0) if forced else 10
    return int(forced, 0) - 1 if forced else 10


def kmalloc_size_classes(kconfig: KernelConfig) -> list[int]:
    """The kmalloc-N caches (bytes), smallest first."""
    order = max_page_order(kconfig)
    if kconfig.enabled("SLAB") and kconfig.version < (6, 8, 0):
        high = min(order + PAGE_SHIFT, 25)
    else:
        high = PAGE_SHIFT + 1
    sizes = [1 << s for s in range(3, high + 1)]
    return sorted(sizes + [96, 192])


def kmalloc_max(kconfig: KernelConfig) -> int:
    """KMALLOC_MAX_SIZE: the largest kmalloc() that can succeed."""
    return 1 << (max_page_order(kconfig) + PAGE_SHIFT)


def kmalloc_size(n: int, kconfig: KernelConfig | None = None) -> int | None:
    """What kmalloc(n) really gives (ksize), or None when it fails."""
    kc = kconfig or KernelConfig.default()
    if n <= 0:
        return None
    if n > kmalloc_max(kc):
        return None
    classes = kmalloc_size_classes(kc)
    if n <= classes[-1]:
        return next(c for c in classes if c >= n)
    pages = -(-n // PAGE)
    return PAGE << (pages - 1).bit_length()


def dma_coherent_max(state: BootState, kconfig: KernelConfig, mask_bits: int = 32) -> int:
    """Largest dma_alloc_coherent() for a device with this coherent DMA mask (no IOMMU)."""
    order_max = PAGE << max_page_order(kconfig)
    limit = (1 << mask_bits) - 1
    best = 0
    for c in state.carveouts:
        if c.name == "cma" and c.start + c.size - 1 <= limit:
            best = max(best, c.size)
    zone_ok = 0
    for z in state.zones:
        if z.empty or z.start > limit:
            continue
        zone_bytes = z.present_pages * PAGE
        zone_ok = max(zone_ok, min(order_max, zone_bytes))
    return max(best, zone_ok)


def estimate_free_kb(state: BootState) -> int:
    """Free memory right after boot, as memblock sees it (an upper bound for vmalloc)."""
    mb = state.memblock
    reserved = 0
    for s, e in mb.reserved:
        for a, b in mb.memory:
            reserved += max(0, min(b, e) - max(a, s))
    # struct pages: 64 bytes per page, allocated per 128 MiB section
    sections = {a >> 27 for a, b in mb.memory} | {(b - 1) >> 27 for a, b in mb.memory}
    memmap = len(sections) * (1 << 27) // PAGE * 64
    return max(0, (mb.phys_mem_size() - reserved - memmap) // 1024)


def limits(state: BootState, kconfig: KernelConfig) -> dict[str, int | list[int]]:
    order = max_page_order(kconfig)
    cma_total = sum(c.size for c in state.carveouts if c.name == "cma")
    return {
        "page_size": PAGE,
        "gfp_max_order": order,
        "gfp_max_bytes": PAGE << order,
        "kmalloc_max": kmalloc_max(kconfig),
        "kmalloc_max_cache_size": kmalloc_size_classes(kconfig)[-1],
        "kmalloc_size_classes": kmalloc_size_classes(kconfig),
        "dma_coherent_max": dma_coherent_max(state, kconfig, 32),
        "dma_coherent_max_mask24": dma_coherent_max(state, kconfig, 24),
        "dma_coherent_max_mask64": dma_coherent_max(state, kconfig, 64),
        "cma_total": cma_total,
        # an upper bound: free memory right after boot (vmalloc is bounded by free pages)
        "vmalloc_max": estimate_free_kb(state) * 1024,
        "vmalloc_total": 32 << 40,
    }
