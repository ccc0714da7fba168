"""What an x86_64 Linux 6.1 kernel does with the firmware map during boot (setup_arch).

Longer than most modules (~540 lines) on purpose: it is one walk through setup_arch in the
kernel's own order, and each step reads the state the previous one left; split up, the
order that makes the prediction right would no longer be visible in one place.

Order as in arch/x86/kernel/setup.c: early params (`mem=`, `memmap=`) edit the e820 table,
`e820__finish_early_params` sanitises it, the kernel image range is forced to RAM,
`trim_bios_range` retypes page 0 and drops 640K-1M, memblock takes the RAM entries (partial
pages trimmed), boot allocations are made top-down (log buffer, NODE_DATA), then CMA,
crashkernel and (with RAM above 4 GiB) the swiotlb bounce buffer. Zones and present pages
come from memblock memory, which gives Y of "Memory: X/YK available".

The kernel build (image layout, what it frees after boot, sizeof(pg_data_t), the version's
rules) comes from a KernelDescription (driverkit.mem.kernel), read from the image itself.

What is *not* predictable from the outside: physical KASLR moves the kernel image (and so
can push a crashkernel/CMA window down); `kernel_at` pins it (default CONFIG_PHYSICAL_START,
as with `nokaslr`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import MemModelError
from .cmdline import (
    KernelCmdline,
    MemLimit,
    MemmapAdd,
    MemmapExact,
    MemmapRemove,
    MemmapUpdate,
)
from .e820 import U64, E820Entry, E820Table, E820Type
from .kconfig import KernelConfig
from .kernel import KernelDescription, bundled_kernel
from .memblock import Memblock

MiB = 1 << 20
FOUR_G = 1 << 32
PAGE = 4096
ISA_END = 0x100000

CRASH_ALIGN = 16 * MiB
CRASH_ADDR_LOW_MAX = FOUR_G
CRASH_ADDR_HIGH_MAX = 64 << 40
SWIOTLB_DEFAULT = 64 * MiB
DEFAULT_LOG_BUF = 1 << 17


@dataclass(frozen=True)
class Carveout:
    name: str
    start: int
    size: int
    note: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "start": self.start, "size": self.size}


class ZonedMemory:
    """What every architecture's boot state derives from its zones: Y of "Memory: X/YK"."""

    zones: list[Zone]

    @property
    def present_pages(self) -> int:
        return sum(z.present_pages for z in self.zones)

    @property
    def memory_total_kb(self) -> int:
        return self.present_pages * 4


@dataclass(frozen=True)
class Zone:
    name: str
    start: int  # span, [start, end)
    end: int
    present_pages: int

    @property
    def empty(self) -> bool:
        return self.start >= self.end


@dataclass
class BootState(ZonedMemory):
    firmware: list[E820Entry]
    user_map: list[E820Entry] | None
    e820: list[E820Entry]
    memblock: Memblock
    max_pfn: int
    max_low_pfn: int
    kernel_at: int
    zones: list[Zone]
    carveouts: list[Carveout]
    crash_resources: list[tuple[int, int, str]]
    removed_ram: list[tuple[int, int, str]]
    kernel: KernelDescription = field(default_factory=bundled_kernel)
    log: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _ram_covers(table: E820Table, start: int, end: int) -> bool:
    """`e820__mapped_all(start, end, E820_TYPE_RAM)` over the sanitised table."""
    for e in table.entries:
        if e.type != E820Type.RAM or e.addr >= end or e.end <= start:
            continue
        if e.addr <= start:
            start = e.end
        if start >= end:
            return True
    return False


def apply_early_params(firmware: list[E820Entry], cl: KernelCmdline) -> tuple[E820Table, list[str]]:
    """parse_early_param() + e820__finish_early_params(): the "user-defined" map."""
    t = E820Table(firmware)
    for op in cl.early:
        if isinstance(op, MemmapExact):
            t.clear()
        elif isinstance(op, MemLimit):
            t.range_remove(op.limit, U64 - op.limit, E820Type.RAM, True)
        elif isinstance(op, MemmapAdd):
            t.range_add(op.start, op.size, op.type)
        elif isinstance(op, MemmapUpdate):
            t.range_update(op.start, op.size, op.old, op.new)
        elif isinstance(op, MemmapRemove):
            t.range_remove(op.start, op.size, op.old, op.old != 0)
    if cl.userdef and not t.sanitize():
        raise MemModelError(
            f"kernel command line {cl.text!r}: the user-defined map has "
            f"{len([e for e in t.entries if e.size])} usable entries; the kernel panics with "
            '"Invalid user supplied memory map" (e820__update_table needs at least two)'
        )
    return t, list(t.log)


def _zones(mb: Memblock, max_pfn: int) -> list[Zone]:
    limits = [("DMA", PAGE, 16 * MiB), ("DMA32", 16 * MiB, FOUR_G), ("Normal", FOUR_G, 1 << 64)]
    top = max_pfn * PAGE
    first = mb.memory[0][0] if mb.memory else 0
    out = []
    for name, lo, hi in limits:
        s, e = max(lo, first if name == "DMA" else lo), min(hi, top)
        if s >= e:
            out.append(Zone(name, 0, 0, 0))  # "Normal   empty"
            continue
        pages = sum(max(0, min(b, e) - max(a, s)) for a, b in mb.memory) // PAGE
        out.append(Zone(name, s, e, pages))
    return out


def boot(
    firmware: list[E820Entry],
    cl: KernelCmdline,
    kconfig: KernelConfig,
    *,
    kernel_at: int | None = None,
    reserve: Iterable[tuple[str, int, int]] = (),
    initrd: tuple[int, int] | None = None,
    kernel: KernelDescription | None = None,
) -> BootState:
    """Run the model of setup_arch() over a firmware map and a parsed command line.

    reserve: (name, start, size) boot-time reservations made before the kernel's own
    allocations (memblock_reserve, as early_reserve_memory does), e.g. a firmware carve-out.
    initrd: [start, end) where the loader put the initrd (early_reserve_initrd); it is moved
    when it lies outside usable RAM and handed back to the page allocator at the end.
    kernel: the build (default: the bundled description); kconfig is the config to follow.
    """
    kd = kernel or bundled_kernel()
    image_end = kd.layout.end
    log: list[str] = []
    warnings = list(cl.warnings)
    t, edit_log = apply_early_params(firmware, cl)
    log += edit_log
    user_map = list(t.entries) if cl.userdef else None

    phys_start = kconfig.int_value("PHYSICAL_START", 0x1000000)
    k_at = phys_start if kernel_at is None else kernel_at
    limit = min((op.limit for op in cl.early if isinstance(op, MemLimit)), default=None)
    if limit is not None and limit < k_at + image_end:
        warnings.append(
            f"RAM is cut at {limit:#x}, below the end of the kernel image "
            f"({k_at + image_end:#x}): "
            "expect no boot (measured: mem=0248M, i.e. 20 bytes, hangs before the first console "
            "line; memmap=8Mx248M = mem=8M boots into 'System is deadlocked on memory')"
        )
    if not _ram_covers(t, k_at, k_at + image_end):
        log.append(".text .data .bss are not marked as E820_TYPE_RAM!")
        warnings.append(
            f"the kernel image {k_at:#x}-{k_at + image_end - 1:#x} is not in the usable map: "
            "the kernel forces it back to RAM (e820_add_kernel_range)"
        )
        t.range_remove(k_at, image_end, E820Type.RAM, False)
        t.range_add(k_at, image_end, E820Type.RAM)
    # trim_bios_range
    t.range_update(0, PAGE, E820Type.RAM, E820Type.RESERVED)
    t.range_remove(0xA0000, 0x100000 - 0xA0000, E820Type.RAM, True)
    t.sanitize()
    log += t.log[len(edit_log) :]

    max_pfn = t.end_of_ram_pfn()
    max_low_pfn = t.end_of_ram_pfn(FOUR_G >> 12) if max_pfn > (FOUR_G >> 12) else max_pfn
    log.append(f"last_pfn = {max_pfn:#x} max_arch_pfn = 0x400000000")

    mb = Memblock()
    for e in t.entries:
        if e.type == E820Type.SOFT_RESERVED:
            mb.reserve(e.addr, e.size)
        if e.type in (E820Type.RAM, E820Type.RESERVED_KERN):
            mb.add(e.addr, e.size)
    mb.trim_memory(PAGE)
    if not mb.memory:
        raise MemModelError("no usable RAM left after mem=/memmap=: the kernel cannot boot")

    mb.reserve(0, ISA_END, "first 1 MiB (real mode, BIOS)")
    for name, off, size in kd.reservations:  # early_reserve_memory, reserve_brk
        mb.reserve(k_at + off, size, name)
    mb.current_limit = max_pfn * PAGE
    carveouts: list[Carveout] = []
    for name, start, size in reserve:
        if start < 0 or size <= 0:
            raise MemModelError(
                f"reserve {name!r}: start {start:#x} must be >= 0 and size {size:#x} > 0"
            )
        mb.reserve(start, size, name)
        carveouts.append(Carveout(name, start, size, "boot-time reservation (given)"))
    if initrd is not None:  # early_reserve_initrd: where the loader put it
        i0, i1 = initrd
        mb.reserve(i0, -(-i1 // PAGE) * PAGE - i0, "initrd")

    if cl.log_buf_len > DEFAULT_LOG_BUF:
        n = cl.log_buf_len
        for what, size in (
            ("log_buf", n),
            ("log_buf descs", (n >> 5) * 24),
            ("log_buf infos", (n >> 5) * 88),
        ):
            mb.phys_alloc_range(size, 8, 0, 0, name=what)
    initrd_now = None
    if initrd is not None:  # reserve_initrd: move it into RAM the kernel maps
        i0, i1 = initrd
        if any(a <= i0 and i1 <= b for a, b in mb.memory):
            initrd_now = (i0, -(-i1 // PAGE) * PAGE)
        else:
            area = -(-(i1 - i0) // PAGE) * PAGE
            new = mb.phys_alloc_range(area, PAGE, 0, 0, name="initrd (relocated)")
            if new:
                log.append(f"Allocated new RAMDISK: [mem {new:#010x}-{new + (i1 - i0) - 1:#010x}]")
                initrd_now = (new, new + area)
            mb.free(i0, -(-i1 // PAGE) * PAGE - i0)
    mb.phys_alloc_range(kd.node_data_size, PAGE, 0, 0, name="NODE_DATA(0)")

    # CMA: dma_contiguous_reserve(max_pfn_mapped << PAGE_SHIFT)
    if cl.cma is not None and kconfig.enabled("DMA_CMA") and cl.cma.size:
        _reserve_cma(mb, cl, carveouts, warnings)
    elif cl.cma is not None and cl.cma.size:
        warnings.append(
            "cma=: this kernel has no CONFIG_DMA_CMA, so it prints 'Unknown kernel command line "
            'parameters "cma=..."\' and reserves nothing'
        )
    elif kconfig.enabled("DMA_CMA"):
        mbytes = kconfig.int_value("CMA_SIZE_MBYTES", 0)
        if mbytes:
            from .cmdline import CmaSpec

            cl2 = KernelCmdline(cma=CmaSpec(mbytes * MiB))
            _reserve_cma(mb, cl2, carveouts, warnings)

    crash: list[tuple[int, int, str]] = []
    if kconfig.enabled("KEXEC_CORE"):
        _reserve_crashkernel(mb, cl, carveouts, crash, log, warnings, kd.rules.crashkernel)

    # sparse_init: the struct-page array, 2 MiB per present 128 MiB section, above 16 MiB
    sections = {s >> 27 for a, b in mb.memory for s in range(a, b, 1 << 27)}
    sections |= {(b - 1) >> 27 for a, b in mb.memory}
    mb.phys_alloc_range(len(sections) * 2 * MiB, 2 * MiB, 16 * MiB, 0, name="vmemmap")

    if max_pfn > (FOUR_G >> 12) and kconfig.enabled("SWIOTLB"):
        addr = mb.phys_alloc_range(SWIOTLB_DEFAULT, PAGE, 0, FOUR_G, name="swiotlb")
        if addr:
            carveouts.append(
                Carveout(
                    "swiotlb",
                    addr,
                    SWIOTLB_DEFAULT,
                    "software IO TLB bounce buffer (RAM above 4 GiB)",
                )
            )
            log.append(
                f"software IO TLB: mapped [mem {addr:#018x}-{addr + SWIOTLB_DEFAULT:#018x}] (64MB)"
            )

    # what mem=/memmap= took away from firmware RAM
    removed = _removed_ram(firmware, t.entries, cl)
    for s, e, why in removed:
        carveouts.append(Carveout(why, s, e - s, "firmware RAM the kernel does not use"))
    for e in t.entries:
        if e.type in (E820Type.PRAM, E820Type.PMEM, E820Type.RESERVED, E820Type.ACPI):
            src = _memmap_source(cl, e)
            if src:
                carveouts.append(Carveout(src, e.addr, e.size))

    if initrd_now is not None:  # free_initrd_mem: back to the page allocator after unpacking
        mb.free(initrd_now[0], initrd_now[1] - initrd_now[0])
    for a, b in kd.freed.values():  # free_initmem, mark_rodata_ro, alternatives, SEV bss
        mb.free(k_at + a, b - a)
    zones = _zones(mb, max_pfn)
    return BootState(
        firmware=list(firmware),
        user_map=user_map,
        e820=list(t.entries),
        memblock=mb,
        max_pfn=max_pfn,
        max_low_pfn=max_low_pfn,
        kernel_at=k_at,
        zones=zones,
        carveouts=carveouts,
        crash_resources=crash,
        removed_ram=removed,
        kernel=kd,
        log=log,
        warnings=warnings,
    )


def _reserve_cma(
    mb: Memblock, cl: KernelCmdline, carveouts: list[Carveout], warnings: list[str]
) -> None:
    """cma_declare_contiguous_nid(): 2 MiB (pageblock) alignment; bottom-up from 4 GiB if room."""
    assert cl.cma is not None
    align = 2 * MiB
    size = -(-cl.cma.size // align) * align
    limit = cl.cma.limit or mb.current_limit
    limit = limit // align * align
    base = -(-cl.cma.base // align) * align
    addr = 0
    if cl.cma.fixed:
        if mb.find_top_down(size, align, base, base + size) == base:
            mb.reserve(base, size, "cma")
            addr = base
    else:
        mem_end = mb.memory[-1][1]
        if mem_end >= FOUR_G + size:
            addr = mb.phys_alloc_range(size, align, FOUR_G, limit, name="cma", bottom_up=True)
        if not addr:
            addr = mb.phys_alloc_range(size, align, base, limit, name="cma")
    if addr:
        carveouts.append(
            Carveout("cma", addr, size, f"cma: Reserved {size >> 20} MiB at {addr:#018x}")
        )
    else:
        warnings.append(f"cma: Failed to reserve {size >> 20} MiB")


def _crash_request(mb: Memblock, cl: KernelCmdline,
                   warnings: list[str]) -> tuple[int, int, bool]:
    """parse_crashkernel(): (size, base, high) of the request; size 0 = none."""
    total = mb.phys_mem_size()
    size = base = 0
    high = False
    if cl.crashkernel is not None:
        size = cl.crashkernel.size_for(total)
        base = cl.crashkernel.base
        if cl.crashkernel.ranges and not size:
            warnings.append(
                f"crashkernel={cl.crashkernel.text}: no range matches "
                f"{total >> 20} MiB of RAM (rounded up to 128 MiB): nothing reserved"
            )
    if not size and cl.crashkernel_high is not None:
        size, base, high = cl.crashkernel_high.size, 0, True
    return size, base, high


def _reserve_crashkernel(
    mb: Memblock,
    cl: KernelCmdline,
    carveouts: list[Carveout],
    crash: list[tuple[int, int, str]],
    log: list[str],
    warnings: list[str],
    rules: str = "x86-6.1",
) -> None:
    """reserve_crashkernel(): arch/x86/kernel/setup.c (6.1) or, with rules="generic",
    kernel/crash_reserve.c reserve_crashkernel_generic() (x86 from 6.7; 6.12 read)."""
    size, base, high = _crash_request(mb, cl, warnings)
    if not size:
        return
    if rules == "generic":
        _crash_generic(mb, cl, size, base, high, carveouts, crash, log, warnings)
        return
    total = mb.phys_mem_size()
    if not base:
        addr = 0
        if not high:
            addr = mb.phys_alloc_range(size, CRASH_ALIGN, CRASH_ALIGN, CRASH_ADDR_LOW_MAX)
        if not addr:
            addr = mb.phys_alloc_range(size, CRASH_ALIGN, CRASH_ALIGN, CRASH_ADDR_HIGH_MAX)
        if not addr:
            log.append("crashkernel reservation failed - No suitable area found.")
            warnings.append(f"crashkernel: no free {size >> 20} MiB window aligned to 16 MiB")
            return
    else:
        addr = mb.phys_alloc_range(size, MiB, base, base + size)
        if addr != base:
            if addr:
                mb.free(addr, size)
            log.append("crashkernel reservation failed - memory is in use.")
            warnings.append(
                f"crashkernel: {size >> 20} MiB at {base:#x} is not free (memory is in use)"
            )
            return
    if addr >= FOUR_G:
        low_size = _crash_low_default() if cl.crashkernel_low is None else cl.crashkernel_low.size
        if low_size:
            low = mb.phys_alloc_range(low_size, CRASH_ALIGN, 0, CRASH_ADDR_LOW_MAX)
            if not low:
                mb.free(addr, size)
                log.append(
                    f"Cannot reserve {low_size >> 20}MB crashkernel low memory, "
                    "please try smaller size."
                )
                warnings.append(
                    "crashkernel: no room for the low part below 4 GiB; nothing reserved"
                )
                return
            log.append(
                f"Reserving {low_size >> 20}MB of low memory at {low >> 20}MB for crashkernel "
                f"(low RAM limit: {min(total, CRASH_ADDR_LOW_MAX) >> 20}MB)"
            )
            carveouts.append(Carveout("Crash kernel (low)", low, low_size))
            crash.append((low, low + low_size - 1, "Crash kernel"))
    log.append(
        f"Reserving {size >> 20}MB of memory at {addr >> 20}MB for crashkernel "
        f"(System RAM: {total >> 20}MB)"
    )
    _crash_done(addr, size, carveouts, crash)


def _crash_low_default() -> int:
    """DEFAULT_CRASH_KERNEL_LOW_SIZE on x86: swiotlb + 8 MiB, at least 256 MiB."""
    return max(SWIOTLB_DEFAULT + 8 * MiB, 256 * MiB)


def _crash_done(addr: int, size: int, carveouts: list[Carveout],
                crash: list[tuple[int, int, str]]) -> None:
    carveouts.append(
        Carveout(
            "Crash kernel",
            addr,
            size,
            "placement assumes the kernel image at kernel_at (KASLR may move it)",
        )
    )
    crash.append((addr, addr + size - 1, "Crash kernel"))


def _crash_generic(mb: Memblock, cl: KernelCmdline, size: int, base: int, high: bool,
                   carveouts: list[Carveout], crash: list[tuple[int, int, str]],
                   log: list[str], warnings: list[str]) -> None:
    """reserve_crashkernel_generic(): a low try, then above 4 GiB (with a default low part);
    ,high tries above 4 GiB first, then low; a fixed base must be free as given."""
    low_size = 0
    if high:
        low_size = _crash_low_default() if cl.crashkernel_low is None else cl.crashkernel_low.size
        lo, hi = CRASH_ADDR_LOW_MAX, CRASH_ADDR_HIGH_MAX
    elif base:
        lo, hi = base, base + size
    else:
        lo, hi = 0, CRASH_ADDR_LOW_MAX
    while True:
        addr = mb.phys_alloc_range(size, CRASH_ALIGN, lo, hi)
        if addr:
            break
        if base:
            log.append("crashkernel reservation failed - memory is in use.")
            warnings.append(
                f"crashkernel: {size >> 20} MiB at {base:#x} is not free (memory is in use)"
            )
            return
        if not high and hi == CRASH_ADDR_LOW_MAX:
            lo, hi = CRASH_ADDR_LOW_MAX, CRASH_ADDR_HIGH_MAX
            low_size = _crash_low_default()
            continue
        if high and hi == CRASH_ADDR_HIGH_MAX:
            lo, hi = 0, CRASH_ADDR_LOW_MAX
            continue
        log.append(f"cannot allocate crashkernel (size:{size:#x})")
        warnings.append(f"crashkernel: no free {size >> 20} MiB window aligned to 16 MiB")
        return
    if addr >= CRASH_ADDR_LOW_MAX and low_size:
        low = mb.phys_alloc_range(low_size, CRASH_ALIGN, 0, CRASH_ADDR_LOW_MAX)
        if not low:
            log.append(f"cannot allocate crashkernel low memory (size:{low_size:#x}).")
            warnings.append("crashkernel: no room for the low part below 4 GiB; nothing reserved")
            mb.free(addr, size)
            return
        log.append(f"crashkernel low memory reserved: {low:#010x} - {low + low_size:#010x} "
                   f"({low_size >> 20} MB)")
        carveouts.append(Carveout("Crash kernel (low)", low, low_size))
        crash.append((low, low + low_size - 1, "Crash kernel"))
    log.append(f"crashkernel reserved: {addr:#018x} - {addr + size:#018x} ({size >> 20} MB)")
    _crash_done(addr, size, carveouts, crash)


def _removed_ram(
    firmware: list[E820Entry], final: list[E820Entry], cl: KernelCmdline
) -> list[tuple[int, int, str]]:
    """Firmware RAM (above 1 MiB) that is no longer RAM: the window mem=/memmap= leave behind."""
    fw = [(e.addr, e.end) for e in firmware if e.type == E820Type.RAM and e.end > ISA_END]
    ram = [(e.addr, e.end) for e in final if e.type in (E820Type.RAM, E820Type.RESERVED_KERN)]
    limit = next((op for op in reversed(cl.early) if isinstance(op, MemLimit)), None)
    out = []
    for s, e in fw:
        s = max(s, ISA_END)
        pieces = [(s, e)]
        for a, b in ram:
            nxt = []
            for x, y in pieces:
                if b <= x or a >= y:
                    nxt.append((x, y))
                    continue
                if x < a:
                    nxt.append((x, a))
                if b < y:
                    nxt.append((b, y))
            pieces = nxt
        for x, y in pieces:
            covered = any(f.addr <= x and f.end >= y and f.type != E820Type.RAM for f in final)
            if covered:
                continue  # a memmap $/!/# range; listed under its own name
            name = limit.param + " window" if limit and x >= limit.limit else "removed RAM"
            out.append((x, y, name))
    return out


def _memmap_source(cl: KernelCmdline, e: E820Entry) -> str | None:
    for op in cl.early:
        if (
            isinstance(op, MemmapAdd)
            and op.type == e.type
            and op.start <= e.addr < op.start + op.size
        ):
            return f"memmap={op.text}"
    return None
