"""What an arm64 Linux 6.1 kernel does with memory from the DTB to mm_init, in kernel order.

Longer than most modules (~550 lines) on purpose, like mem/boot.py for x86: one walk in
the kernel's order, each step placed by what the previous ones reserved.

setup_arch(): setup_machine_fdt reserves the DTB; arm64_memblock_init applies `mem=` (an
amount of memory counted from the bottom, memblock_mem_limit_remove_map), adds the kernel
image and the initrd back, reserves [_stext, _end), then early_init_fdt_scan_reserved_mem
(/memreserve/, static /reserved-memory regions in blob order, then the dynamic ones, then
the CMA/DMA pool setup of shared-dma-pool nodes); paging_init's page tables (top-down,
one 4K page per 2 MiB and per 1 GiB of mapped memory, plus five); unflatten_device_tree;
bootmem_init: NUMA (NODE_DATA), sparse_init (usemaps, the memmap: 2 MiB per present 128 MiB
section), zones (ZONE_DMA up to min(4 GiB, end of RAM), ZONE_DMA32 empty then, Normal
above), dma_contiguous_reserve(arm64_dma_phys_limit) for CMA, reserve_crashkernel (below
the DMA limit, 2 MiB aligned, or anywhere for `,high`); request_standard_resources;
start_kernel's command-line copies, per-CPU areas, log buffer, dentry/inode hashes;
mem_init's swiotlb when RAM reaches past the DMA limit.

Sizes come from the Image (its BTF: pg_data_t, struct page, device_node, property,
.data..percpu) and the DTB; what the model cannot know exactly is marked "estimated" on
each allocation (the small per-CPU bookkeeping).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import MemModelError, ReservedMemoryError
from ..boot import Carveout, Zone, ZonedMemory
from ..cmdline import KernelCmdline, MemLimit
from ..dt import DeviceTree, ReservedRegion
from ..kconfig import KernelConfig
from ..kernel.arm64 import Arm64Image
from ..memblock import Memblock, _sub
from .virt import VirtLayout

MiB = 1 << 20
GiB = 1 << 30
FOUR_G = 1 << 32
PAGE = 4096
SMP_CACHE = 64
SECTION = 1 << 27  # SECTION_SIZE_BITS 27 (4K pages)
PMD_SIZE = 2 * MiB
PUD_SIZE = GiB
CRASH_ALIGN = 2 * MiB
CMA_MIN_ALIGN = 2 * MiB  # pageblock (order 9) with 4K pages
PHYS_MASK = (1 << 48) - 1
SWIOTLB_DEFAULT = 64 * MiB
#: page-table pages paging_init needs besides one per 2 MiB and per 1 GiB of mapped memory
#: (fixmap, kernel and PGD-level tables) [measured: 134, 262, 518, 1031, 2057 pages for
#: 256M, 512M, 1G, 2G, 4G]
PGTABLE_EXTRA = 5
MEM_SECTION_ROOTS = 65536  # sparse_init: NR_SECTION_ROOTS * 8 with 48-bit physical addresses
USEMAP_BITS = 256  # pageblock flags per section: 64 pageblocks x 4 bits
PERCPU_RESERVE = 8192 + 28672  # PERCPU_MODULE_RESERVE + PERCPU_DYNAMIC_RESERVE (64-bit)
#: pcpu_setup_first_chunk/pcpu_alloc_first_chunk bookkeeping for one CPU, in order
#: (memblock=debug on 6.1.0-57-cloud-arm64); estimated for other builds
PCPU_SMALL = (8, 8, 4, 8, 288, 144, 384, 392, 96, 144, 1024, 1032, 256)
DEFAULT_LOG_BUF = 1 << 17


class Arm64Memblock(Memblock):
    """memblock with MEMBLOCK_NOMAP regions: still memory, never allocated from."""

    nomap: list[tuple[int, int]]

    def __init__(self) -> None:
        super().__init__()
        self.nomap = []

    def free_ranges(self) -> list[tuple[int, int]]:
        free = super().free_ranges()
        for s, e in self.nomap:
            free = _sub(free, s, e)
        return free

    def mark_nomap(self, base: int, size: int) -> None:
        from ..memblock import _add

        self.nomap = _add(self.nomap, base, base + size)

    def regions(self) -> list[tuple[int, int, bool]]:
        """memblock.memory as the kernel keeps it: split where NOMAP starts or ends."""
        cuts = sorted({p for s, e in self.nomap for p in (s, e)})
        out = []
        for s, e in self.memory:
            points = [s] + [c for c in cuts if s < c < e] + [e]
            for a, b in zip(points, points[1:]):
                out.append((a, b, any(x <= a and b <= y for x, y in self.nomap)))
        return out

    def is_map_memory(self, addr: int) -> bool:
        """pfn_is_map_memory(): in memblock.memory and not NOMAP."""
        return any(s <= addr < e for s, e in self.memory) and not any(
            s <= addr < e for s, e in self.nomap)


@dataclass
class PlacedRegion:
    """A /reserved-memory region after the kernel handled it."""

    region: ReservedRegion
    start: int
    size: int
    outcome: str  # "no-map", "reserved", "cma", "dma-pool", or "failed: why"
    log: list[str] = field(default_factory=list)


@dataclass
class Arm64Boot(ZonedMemory):
    """The boot model's result: memblock, zones, carve-outs, what the log says."""

    layout: VirtLayout
    memblock: Arm64Memblock
    zones: list[Zone]
    carveouts: list[Carveout]
    crash_resources: list[tuple[int, int, str]]
    regions: list[PlacedRegion]
    dma_limit: int
    max_pfn: int
    kernel_text: int
    log: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    estimated: list[tuple[int, int]] = field(default_factory=list)  # [start, end) of guesses
    boot_allocations: list[tuple[str, int, int]] = field(default_factory=list)
    memory_limit: int | None = None


def _align(x: int, a: int) -> int:
    return -(-x // a) * a


def pgtable_pages(mapped: list[tuple[int, int]]) -> int:
    """paging_init's early page-table pages for the linear map of these ranges (at page
    granularity: Debian sets RODATA_FULL, so no block mappings)."""
    pmd = {b for s, e in mapped for b in range(s >> 21, ((e - 1) >> 21) + 1)}
    pud = {b for s, e in mapped for b in range(s >> 30, ((e - 1) >> 30) + 1)}
    return len(pmd) + len(pud) + PGTABLE_EXTRA


def unflatten_size(dt: DeviceTree, image: Arm64Image) -> int:
    """unflatten_dt_nodes(): struct device_node + name per node, struct property per
    property (a synthesised "name" one when the node has none); /chosen's rng-seed is
    nop'ed by the kernel before (early_init_dt_scan_chosen)."""
    node_sz, prop_sz = image.size("device_node", 208), image.size("property", 96)
    fdt, lib = dt._fdt, dt._lib
    total = 0
    for path, off in dt.walk():
        name = fdt.get_name(off) if off else ""
        total = _align(total, 8) + node_sz + len(name) + 1
        po = fdt.first_property_offset(off, lib.QUIET_NOTFOUND)
        has_name = False
        while po >= 0:
            prop = fdt.get_property_by_offset(po)
            po = fdt.next_property_offset(po, lib.QUIET_NOTFOUND)
            if path == "/chosen" and prop.name == "rng-seed":
                continue
            has_name |= prop.name == "name"
            total = _align(total, 8) + prop_sz
        if not has_name:
            total = _align(total, 8) + prop_sz + len(name.split("@")[0]) + 1
    return _align(total, 4) + 4


def _hash_bytes(nr_kernel_pages: int, nr_all_pages: int, scale: int) -> int:
    """alloc_large_system_hash(): 8-byte buckets, one per 2^scale bytes, a power of two."""
    n = _align(nr_kernel_pages, 256) >> (scale - 12)
    n = max(n, PAGE // 8)
    n = 1 << (n - 1).bit_length()
    n = min(n, (nr_all_pages * PAGE >> 4) // 8)
    return 8 << (n.bit_length() - 1)


def boot(
    dt: DeviceTree,
    image: Arm64Image,
    layout: VirtLayout,
    cl: KernelCmdline,
    kconfig: KernelConfig,
    *,
    strict: bool = True,
) -> Arm64Boot:
    """Run the arm64 setup_arch()/start_kernel() memory steps over the DT and loader layout."""
    if image.init_section is None:
        raise MemModelError(
            f"{image.release}: where the init section starts and ends is not in the Image; "
            f"give it with Arm64Image.with_init_section (from a boot's /proc/iomem)")
    log: list[str] = []
    warnings = list(cl.warnings)
    mb = Arm64Memblock()
    for s, n in dt.memory:
        mb.add(s, n)
    if not mb.memory:
        raise MemModelError(f"{dt.name}: no /memory node with a size")
    est: list[tuple[int, int]] = []
    allocs: list[tuple[str, int, int]] = []

    def alloc(name: str, size: int, align: int, lo: int = 0, hi: int = 0,
              estimated: bool = False) -> int:
        addr = mb.phys_alloc_range(size, align, lo, hi, name=name)
        if not addr:
            raise MemModelError(f"memblock: no room for {name} ({size:#x} bytes)")
        allocs.append((name, addr, size))
        if estimated:
            est.append((addr, addr + size))
        return addr

    text, end = layout.kernel
    stext = text + image.stext
    mb.reserve(layout.dtb[0], layout.dtb[1] - layout.dtb[0], "DTB")  # setup_machine_fdt

    # arm64_memblock_init
    mem_limit = next((op.limit for op in reversed(cl.early) if isinstance(op, MemLimit)), None)
    if mem_limit is not None:
        limit = mem_limit & ~(PAGE - 1)
        log.append(f"Memory limited to {limit >> 20}MB")
        max_addr = None
        left = limit
        for s, e in mb.memory:
            if left <= e - s:
                max_addr = s + left
                break
            left -= e - s
        if max_addr is not None and limit:
            mb.memory = _sub(mb.memory, max_addr, 1 << 64)
            mb.reserved = _sub(mb.reserved, max_addr, 1 << 64)
            mb.add(text, end - text)
        if limit < end - mb.memory[0][0]:
            warnings.append(f"mem={limit >> 20}M ends below the kernel image's end "
                            f"({end:#x}); the kernel adds the image back, little else fits")
    if layout.initrd is not None:
        base = layout.initrd[0] & ~(PAGE - 1)
        size = _align(layout.initrd[1], PAGE) - base
        mb.add(base, size)
        mb.reserve(base, size, "initrd")
    mb.reserve(stext, end - stext, "kernel image")
    for a, n in dt.memreserve:
        mb.reserve(a, n, "/memreserve/")
    regions = _reserved_memory(dt, mb, layout, stext, end, cl, strict, log, warnings)

    # paging_init: page tables for the linear map, top-down, one page at a time
    mapped = [(s, e) for s, e, nomap in mb.regions() if not nomap]
    pt = pgtable_pages(mapped)
    for _ in range(pt):
        alloc("page tables", PAGE, PAGE)
    allocs.append(("page tables (total)", 0, pt * PAGE))
    alloc("unflattened device tree", unflatten_size(dt, image), 8)

    # bootmem_init
    dram_start, dram_end = mb.memory[0][0], mb.memory[-1][1]
    numa = alloc("NUMA distance", 256, PAGE)
    mb.free(numa, 256)
    alloc("NUMA distance", 256, PAGE)
    nd_size = _align(image.size("pglist_data", 11392), SMP_CACHE)
    nd = alloc("NODE_DATA(0)", nd_size, SMP_CACHE)
    log.append(f"NUMA: NODE_DATA [mem {nd:#010x}-{nd + nd_size - 1:#010x}]")
    sections = sorted({b for s, e in mb.memory for b in range(s // SECTION, (e - 1) // SECTION + 1)})
    alloc("mem_section roots", MEM_SECTION_ROOTS, SMP_CACHE)
    alloc("mem_section index", PAGE, SMP_CACHE)
    usemap = len(sections) * (image.size("mem_section_usage", 24) + USEMAP_BITS // 8)
    sec0 = (nd // SECTION) * SECTION
    alloc("section usemaps", usemap, SMP_CACHE, sec0, sec0 + SECTION)
    map_bytes = _align(SECTION // PAGE * image.size("page", 64), PMD_SIZE)
    alloc("memmap (struct pages)", len(sections) * map_bytes, PMD_SIZE)
    for _ in range(2):  # vmemmap's own PUD/PMD tables
        alloc("vmemmap page tables", PAGE, PAGE)

    # zone_sizes_init: zone_dma_bits 32 (no dma-ranges, no ACPI)
    dma_limit = _max_zone_phys(dram_start, dram_end, 32)
    zones = _zones(mb, dram_start, dram_end, dma_limit)
    carveouts: list[Carveout] = []
    for r in regions:
        if r.outcome in ("no-map", "reserved", "cma", "dma-pool"):
            carveouts.append(Carveout(f"reserved-memory {r.region.name}", r.start, r.size,
                                      r.outcome))
    mb.current_limit = 0
    _cma(mb, cl, kconfig, regions, dma_limit, dram_end, carveouts, log, warnings)
    crash = _crashkernel(mb, cl, kconfig, dma_limit, carveouts, log, warnings)

    # request_standard_resources, then start_kernel
    alloc("standard resources", len(mb.regions()) * 64, SMP_CACHE)
    for _ in range(2):  # saved_command_line, static_command_line
        alloc("command line copy", len(cl.text.strip()) + 1 if cl.text.strip() else 1,
              SMP_CACHE)
    _percpu(alloc, mb, image)
    if cl.log_buf_len > DEFAULT_LOG_BUF:
        n = cl.log_buf_len
        for what, size in (("log_buf", n), ("log_buf descs", (n >> 5) * 24),
                           ("log_buf infos", (n >> 5) * 88)):
            alloc(what, size, 8)
    nr_kernel = sum(z.present_pages - _memmap_pages(z) for z in zones if not z.empty)
    alloc("dentry hash", _hash_bytes(nr_kernel, nr_kernel, 13), SMP_CACHE)
    alloc("inode hash", _hash_bytes(nr_kernel, nr_kernel, 14), SMP_CACHE)
    # mem_init: swiotlb when memory reaches past the DMA limit
    max_pfn = dram_end // PAGE
    if max_pfn > dma_limit // PAGE and kconfig.enabled("SWIOTLB"):
        addr = mb.phys_alloc_range(SWIOTLB_DEFAULT, PAGE, 0, dma_limit, name="swiotlb")
        if addr:
            # swiotlb_init_remap: the slot array (24 bytes per 2 KiB slab), then one area
            alloc("swiotlb slots", _align(SWIOTLB_DEFAULT // 2048 * 24, PAGE), PAGE)
            alloc("swiotlb areas", 16, SMP_CACHE, estimated=True)
            carveouts.append(Carveout("swiotlb", addr, SWIOTLB_DEFAULT,
                                      "software IO TLB bounce buffer (RAM past ZONE_DMA)"))
            log.append(f"software IO TLB: mapped [mem {addr:#018x}-"
                       f"{addr + SWIOTLB_DEFAULT:#018x}] (64MB)")
    return Arm64Boot(layout, mb, zones, carveouts, crash, regions, dma_limit, max_pfn, text,
                     log, warnings, est, allocs, mem_limit)


def _percpu(alloc, mb: Arm64Memblock, image: Arm64Image) -> None:
    """setup_per_cpu_areas (pcpu_embed_first_chunk) for one CPU."""
    info = alloc("percpu alloc info", PAGE, PAGE)
    areas = alloc("percpu areas", PAGE, SMP_CACHE)
    unit = _align(image.size("percpu_static", 85864) + PERCPU_RESERVE, PAGE)
    alloc("percpu first chunk", unit, PAGE)
    for size in PCPU_SMALL:
        alloc("percpu bookkeeping", size, SMP_CACHE, estimated=True)
    mb.free(info, PAGE)
    mb.free(areas, PAGE)


def _memmap_pages(z: Zone) -> int:
    """calc_memmap_size(): struct pages charged to a zone (SPARSEMEM)."""
    spanned = (z.end - z.start) // PAGE
    pages = z.present_pages if spanned > z.present_pages + (z.present_pages >> 4) else spanned
    return _align(pages * 64, PAGE) // PAGE


def _max_zone_phys(start: int, end: int, bits: int) -> int:
    mask = (1 << bits) - 1
    if start > 0xFFFFFFFF:
        mask = (1 << 64) - 1
    elif start > mask:
        mask = 0xFFFFFFFF
    return min(mask, end - 1) + 1


def _zones(mb: Arm64Memblock, start: int, end: int, dma_limit: int) -> list[Zone]:
    spans = [("DMA", start, dma_limit), ("DMA32", dma_limit, dma_limit), ("Normal", dma_limit, end)]
    out = []
    for name, s, e in spans:
        if s >= e:
            out.append(Zone(name, 0, 0, 0))
            continue
        pages = sum(max(0, min(b, e) - max(a, s)) for a, b in mb.memory) // PAGE
        out.append(Zone(name, s, e, pages))
    return out


def _overlap(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


def _reserved_memory(dt: DeviceTree, mb: Arm64Memblock, layout: VirtLayout, stext: int,
                     end: int, cl: KernelCmdline, strict: bool, log: list[str],
                     warnings: list[str]) -> list[PlacedRegion]:
    """early_init_fdt_scan_reserved_mem + fdt_init_reserved_mem (drivers/of, 6.1)."""
    placed: list[PlacedRegion] = []
    ram = [(s, s + n) for s, n in dt.memory]

    def refuse(r: ReservedRegion, why: str) -> None:
        msg = f"/reserved-memory/{r.name}: {why}"
        if strict:
            raise ReservedMemoryError(msg)
        warnings.append(msg)

    fixed = [r for r in dt.reserved_memory if r.size and r.start is not None]
    dynamic = [r for r in dt.reserved_memory if r.size and r.start is None]
    for r in fixed:
        assert r.start is not None
        s, e = r.start, r.start + r.size
        if not any(a <= s and e <= b for a, b in ram):
            refuse(r, f"{s:#x}-{e - 1:#x} is not inside RAM "
                      f"({', '.join(f'{a:#x}-{b - 1:#x}' for a, b in ram)}): the kernel "
                      f"reserves nothing there and the carve-out does not exist")
            continue
        for what, (a, b) in (("the kernel image", (stext, end)),
                             ("QEMU's DTB", layout.dtb),
                             ("the initrd", layout.initrd or (0, 0))):
            if _overlap(s, e, a, b):
                refuse(r, f"{s:#x}-{e - 1:#x} overlaps {what} {a:#x}-{b - 1:#x}"
                          + (": no-map fails with 'failed to reserve memory' (the range is "
                             "reserved already)" if r.no_map else
                             ": the kernel would reserve memory it is running from"))
        for other in placed:
            if _overlap(s, e, other.start, other.start + other.size):
                refuse(r, f"overlaps /reserved-memory/{other.region.name} "
                          f"{other.start:#x}-{other.start + other.size - 1:#x}")
        if r.no_map:
            if any(_overlap(s, e, a, b) for a, b in mb.reserved):
                log.append(f"OF: reserved mem: failed to reserve memory for node '{r.name}': "
                           f"base {s:#018x}, size {r.size >> 20} MiB")
                placed.append(PlacedRegion(r, s, r.size, "failed: range already reserved"))
                continue
            mb.mark_nomap(s, r.size)
        else:
            mb.reserve(s, r.size, f"reserved-memory {r.name}")
        placed.append(PlacedRegion(r, s, r.size, r.kind))
    for r in dynamic:
        align = r.alignment or SMP_CACHE
        if r.alignment is None:
            warnings.append(f"/reserved-memory/{r.name}: no alignment; memblock warns "
                            f"(dump_stack) and uses {SMP_CACHE}")
        if r.kind == "cma":
            align = max(align, CMA_MIN_ALIGN)
        ranges = list(r.alloc_ranges) or [(0, 0)]
        addr = 0
        for a, n in ranges:
            addr = mb.phys_alloc_range(r.size, align, a, a + n if n else 0,
                                       name=f"reserved-memory {r.name}")
            if addr:
                break
        if not addr:
            log.append(f"OF: reserved mem: failed to allocate memory for node '{r.name}': "
                       f"size {r.size >> 20} MiB")
            refuse(r, f"no free {r.size >> 20} MiB ({align:#x}-aligned) in "
                      f"{[(hex(a), hex(n)) for a, n in ranges]}")
            placed.append(PlacedRegion(r, 0, r.size, "failed: no room"))
            continue
        if r.no_map:
            mb.free(addr, r.size)
            mb.mark_nomap(addr, r.size)
        placed.append(PlacedRegion(r, addr, r.size, r.kind))
    # fdt_init_reserved_mem: the shared-dma-pool setup functions
    for p in placed:
        r = p.region
        if p.outcome.startswith("failed") or not r.shared_dma_pool:
            continue
        why = ""
        if r.kind == "cma":
            if cl.cma is not None and r.cma_default:
                log.append(f"Reserved memory: bypass {r.name} node, using cmdline CMA params "
                           f"instead")
                why = "cma= on the command line replaces a linux,cma-default node"
            elif (p.start | p.size) % CMA_MIN_ALIGN:
                log.append("Reserved memory: incorrect alignment of CMA region")
                why = f"a CMA region must be {CMA_MIN_ALIGN >> 20} MiB aligned in base and size"
            else:
                log.append(f"Reserved memory: created CMA memory pool at {p.start:#018x}, "
                           f"size {p.size >> 20} MiB")
        else:
            log.append(f"Reserved memory: created DMA memory pool at {p.start:#018x}, "
                       f"size {p.size >> 20} MiB")
        if why:
            log.append(f"OF: reserved mem: node {r.name} compatible matching fail")
            if r.no_map:
                mb.nomap = _sub(mb.nomap, p.start, p.start + p.size)
            else:
                mb.free(p.start, p.size)
            p.outcome = f"failed: {why}"
            if strict and "bypass" not in log[-2]:
                raise ReservedMemoryError(f"/reserved-memory/{r.name}: {why}")
            warnings.append(f"/reserved-memory/{r.name}: {why}; the region is given back")
            continue
        log.append(f"OF: reserved mem: initialized node {r.name}, compatible id shared-dma-pool")
    return placed


def _cma(mb: Arm64Memblock, cl: KernelCmdline, kconfig: KernelConfig,
         regions: list[PlacedRegion], dma_limit: int, dram_end: int,
         carveouts: list[Carveout], log: list[str], warnings: list[str]) -> None:
    """dma_contiguous_reserve(arm64_dma_phys_limit) -> cma_declare_contiguous_nid (6.1)."""
    for p in regions:
        if p.outcome == "cma":
            carveouts.append(Carveout("cma (reserved-memory)", p.start, p.size,
                                      f"CMA pool from /reserved-memory/{p.region.name}"))
    if not kconfig.enabled("DMA_CMA"):
        if cl.cma is not None:
            warnings.append("cma=: this kernel has no CONFIG_DMA_CMA; ignored")
        return
    if any(p.outcome == "cma" and p.region.cma_default for p in regions):
        return  # a linux,cma-default node is the default area already
    if cl.cma is not None:
        size, base, limit = cl.cma.size, cl.cma.base, cl.cma.limit
        limit = min(limit, dma_limit) if limit else dma_limit
        fixed = bool(base) and base + size == cl.cma.limit
    else:
        size, base, limit, fixed = kconfig.int_value("CMA_SIZE_MBYTES", 0) * MiB, 0, \
            dma_limit, False
    if not size:
        return
    align = CMA_MIN_ALIGN
    base, size = _align(base, align), _align(size, align)
    limit &= ~(align - 1)
    if not limit or limit > dram_end:
        limit = dram_end
    if base + size > limit:
        warnings.append(f"cma: Size ({size:#x}) of region at {base:#x} exceeds limit "
                        f"({limit:#x})")
        log.append(f"cma: Failed to reserve {size >> 20} MiB")
        return
    addr = 0
    if fixed:
        if not any(_overlap(base, base + size, a, b) for a, b in mb.reserved):
            mb.reserve(base, size, "cma")
            addr = base
    else:
        if dram_end >= FOUR_G + size:
            addr = mb.phys_alloc_range(size, align, FOUR_G, limit, name="cma", bottom_up=True)
        if not addr:
            addr = mb.phys_alloc_range(size, align, base, limit, name="cma")
    if not addr:
        log.append(f"cma: Failed to reserve {size >> 20} MiB")
        warnings.append(f"cma: no free {size >> 20} MiB ({align >> 20} MiB aligned) below "
                        f"{limit:#x}")
        return
    log.append(f"cma: Reserved {size >> 20} MiB at {addr:#018x}")
    carveouts.append(Carveout("cma", addr, size, f"cma: Reserved {size >> 20} MiB at "
                                                 f"{addr:#018x}"))


def _crashkernel(mb: Arm64Memblock, cl: KernelCmdline, kconfig: KernelConfig, dma_limit: int,
                 carveouts: list[Carveout], log: list[str],
                 warnings: list[str]) -> list[tuple[int, int, str]]:
    """arch/arm64/mm/init.c reserve_crashkernel() (6.1)."""
    if not kconfig.enabled("KEXEC_CORE"):
        return []
    total = mb.phys_mem_size()
    size = base = low = 0
    crash_max = dma_limit
    if cl.crashkernel is not None:
        size, base = cl.crashkernel.size_for(total), cl.crashkernel.base
        if not size:
            return []
    elif cl.crashkernel_high is not None:
        size = cl.crashkernel_high.size
        low = cl.crashkernel_low.size if cl.crashkernel_low is not None else \
            max(SWIOTLB_DEFAULT + 8 * MiB, 256 * MiB)
        crash_max = PHYS_MASK + 1
    if not size:
        return []
    size = _align(size, PAGE)
    if base:
        crash_max = base + size
    addr = mb.phys_alloc_range(size, CRASH_ALIGN, base, crash_max, name="crashkernel")
    if not addr:
        log.append(f"cannot allocate crashkernel (size:{size:#x})")
        warnings.append(f"crashkernel: no free {size >> 20} MiB ({CRASH_ALIGN >> 20} MiB "
                        f"aligned) below {crash_max:#x}")
        return []
    out = []
    if addr >= dma_limit and low:
        lo = mb.phys_alloc_range(low, CRASH_ALIGN, 0, dma_limit, name="crashkernel low")
        if not lo:
            mb.free(addr, size)
            log.append(f"cannot allocate crashkernel low memory (size:{low:#x}).")
            return []
        log.append(f"crashkernel low memory reserved: {lo:#010x} - {lo + low:#010x} "
                   f"({low >> 20} MB)")
        carveouts.append(Carveout("Crash kernel (low)", lo, low))
        out.append((lo, lo + low - 1, "Crash kernel"))
    log.append(f"crashkernel reserved: {addr:#018x} - {addr + size:#018x} ({size >> 20} MB)")
    carveouts.append(Carveout("Crash kernel", addr, size))
    out.append((addr, addr + size - 1, "Crash kernel"))
    return out
