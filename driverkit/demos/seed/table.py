"""The article's table next to the measured figures; the verdicts follow the numbers.

Each row is a `driverkit.results.Row`: the article's claim as `expected`, the measurement
as `observed`, the verdict in the words every driverkit check uses (agree, partly, differ;
info for the alternative the article does not mention).
"""

from __future__ import annotations

from ...results import Row, Verdict, render_table
from ...units import format_size
from .facts import ARTICLE_RANGE, BootFacts, CleanBootFacts

MIB4 = 4 << 20


def _row(call: str, article: str, measured: str, verdict: Verdict, why: str) -> Row:
    return Row("article", call, article, measured, verdict, why)


def comparison(boot: BootFacts, clean: CleanBootFacts | None) -> list[Row]:
    """The article's claims next to the measured figures."""
    lim, art, use = boot.limits, boot.article_range, boot.usable_range
    use_end = use.start + use.size - 1
    rows = []
    gfp = lim.gfp_max_order
    rows.append(_row(
        "__get_free_pages", "4 MB", f"order {gfp} = {format_size(4096 << gfp)}",
        Verdict.of(4096 << gfp == MIB4),
        f"the buddy allocator's largest block; order {gfp + 1} fails. MAX_ORDER is 11 on 6.1 "
        "(orders 0..10), MAX_PAGE_ORDER 10 since 6.8: the same 4 MiB"))
    slab = boot.largest_kmalloc_cache
    rows.append(_row(
        "kmem_cache_alloc", "KB", f"largest cache kmalloc-{format_size(slab).lower()}",
        Verdict.of(slab <= 64 << 10),
        "slab caches hold small objects (the generic ones stop at "
        f"{format_size(slab)}, /proc/slabinfo); SLUB would take one object up to 4 MiB "
        "(slab order <= MAX_ORDER-1; source, not measured)"))
    kmax = lim.kmalloc_max
    rows.append(_row(
        "kmalloc", "KB (~128 KB)", format_size(kmax), Verdict.of(kmax <= 128 << 10),
        f"128 KiB was the largest 2.6-era kmalloc cache; now a request above "
        f"{format_size(slab)} goes straight to the page allocator (rounded up to 2^n pages), "
        f"so KMALLOC_MAX_SIZE = {format_size(kmax)}"))
    rows.append(_row(
        "vmalloc", "large, discontiguous",
        f"{format_size(lim.vmalloc_max)} in {lim.vmalloc_runs} phys. runs",
        Verdict.of(lim.vmalloc_max > MIB4),
        "pages come one at a time from the buddy allocator, so contiguity is luck "
        f"({lim.vmalloc_runs} physically contiguous run(s) on this fresh guest); dkprobe tries "
        "up to about half of MemAvailable"))
    dma = lim.dma_coherent_max
    rows.append(_row(
        "dma_alloc_coherent", "4 MB", f"{format_size(dma)} (no CMA)", Verdict.of(dma == MIB4),
        "dma-direct falls back to alloc_pages, bounded by MAX_ORDER (32-bit mask); a CMA "
        "area (cma=) lifts the limit"))
    err = boot.ioremap_error
    rows.append(_row(
        "ioremap(0xf800000, 8M)", "works (after mem=248M)",
        "NULL" if art.ioremap == "fail" else "mapped", Verdict.of(art.ioremap != "fail"),
        f"the last {format_size(ARTICLE_RANGE[1] - use.size)} ({use_end + 1:#x}..) "
        f"hold SeaBIOS's ACPI tables, which the kernel maps write-back; PAT refuses an "
        f"uncached mapping over them" + (f" (dmesg: {err})" if err else "") + ". "
        f"ioremap({use.start:#x}, {use.size:#x}) "
        f"{'works' if use.ioremap == 'ok' else 'fails too'} (writel/readl {use.rw})"))
    whole, free = use.size == ARTICLE_RANGE[1], use.request == "ok"
    rows.append(_row(
        "mem=248M", "reserves the top 8 MB",
        f"{format_size(use.size)}, {'free' if free else 'busy'}",
        Verdict.AGREE if whole and free
        else (Verdict.PARTLY if use.ioremap == "ok" else Verdict.DIFFER),
        f"mem= cuts RAM at an address; only {format_size(use.size)} is free RAM, and it "
        f"becomes a busy {boot.window_resource!r} resource: request_mem_region "
        f"{use.request} (so devm_ioremap_resource fails) and /dev/mem needs iomem=relaxed"))
    syms = boot.symbols
    rows.append(_row(
        "alloc_bootmem", "reserves at boot (rebuild)",
        "present" if syms.get("alloc_bootmem") else "gone",
        Verdict.of(bool(syms.get("alloc_bootmem"))),
        "not in /proc/kallsyms: the bootmem allocator was removed in 4.20; "
        "memblock_alloc*() (memblock_alloc_try_nid "
        + ("present" if syms.get("memblock_alloc_try_nid") else "absent")
        + ") is its successor, still only for built-in early-boot code"))
    if clean is not None:
        cu = clean.usable_range
        ok = cu.request == "ok" and cu.ioremap == "ok" and clean.devmem_ok
        rows.append(_row(
            "memmap=8M$248M", "-", "claimable" if ok else "refused", Verdict.INFO,
            f"not in the article: the clean carve-out, no rebuild: a non-busy 'Reserved' "
            f"region; request_mem_region {cu.request}, ioremap({cu.size:#x}) {cu.ioremap}, "
            f"devmem {'works' if clean.devmem_ok else 'refused'} without iomem=relaxed. "
            "Use memremap(WB) or ioremap up to the firmware tables"))
    return rows


def table_lines(rows: list[Row], width: int = 100) -> list[str]:
    """The comparison as aligned text lines, the reason wrapped under each row."""
    heads = ("call", "the article says", "measured", "verdict")
    cells = [(r.key, r.expected or "-", r.observed or "-", r.verdict.shown) for r in rows]
    return render_table(heads, cells, notes=[r.note for r in rows], wrap=width)
