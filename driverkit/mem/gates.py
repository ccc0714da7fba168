"""The gates a driver meets on x86 (6.1): ioremap, memremap, request_mem_region, /dev/mem.

* ioremap (UC-), arch/x86/mm/ioremap.c: refuse size 0/wrap and addresses beyond phys_bits;
  refuse RAM pages that are in use (System RAM and not PageReserved, i.e. not memblock-
  reserved); then PAT (memtype_reserve): a range that is part RAM, part not is -EINVAL; RAM
  pages are tracked per page (boot-reserved RAM maps UC- fine); other ranges conflict with
  what the kernel already maps write-back — the firmware ACPI tables — and an uncached
  request that meets WB fails ("ioremap error ... requested 0x2, got 0x0").
* memremap(MEMREMAP_WB), kernel/iomem.c: a range that overlaps top-level System RAM *and*
  other top-level nodes is refused; all-RAM returns the direct map; else ioremap_cache (WB).
* request_mem_region: see resource.request_region (busy conflict or straddle = -EBUSY).
* /dev/mem mmap as busybox devmem does it (O_SYNC, so UC-): System RAM pages above 1 MiB give
  EPERM; busy nodes give EPERM under CONFIG_IO_STRICT_DEVMEM unless iomem=relaxed; a WB
  mapping conflict gives EAGAIN. read() only reaches below high_memory (else EFAULT).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ResourceBusy
from .memblock import Memblock
from .resource import Resource, release_region, request_region

PAGE = 4096
ISA = (0xA0000, 0x100000)


@dataclass(frozen=True)
class WbRange:
    """A physical range the kernel maps write-back outside System RAM (PAT tracks it)."""

    start: int
    end: int  # inclusive
    what: str


@dataclass
class Probe:
    """What the model predicts for one physical range, gate by gate (what a guest's dkprobe
    reports for the same range is driverkit.guest.report.RangeProbe; memcheck compares them)."""

    start: int
    size: int
    ioremap: str
    memremap: str
    request_mem_region: str
    devmem_mmap: str
    devmem_read: str
    reason: str
    ram: str = "none"  # region_intersects with System RAM: "all" | "none" | "mixed"

    def to_dict(self) -> dict:
        return {
            "start": self.start,
            "size": self.size,
            "ioremap": self.ioremap,
            "memremap": self.memremap,
            "request_mem_region": self.request_mem_region,
            "devmem_mmap": self.devmem_mmap,
            "devmem_read": self.devmem_read,
            "ram": self.ram,
            "reason": self.reason,
        }


def _rng(a: int, b: int) -> str:
    return f"{a:#010x}-{b:#010x}"


def _ram_nodes(root: Resource, start: int, end: int) -> list[Resource]:
    return [
        r for _, r in root.walk() if r.system_ram and r.overlaps(start, end) and (r.parent is root)
    ]


def _reserved_pages(mb: Memblock, start: int, end: int) -> bool:
    """Every page of [start, end] is memblock-reserved (PageReserved) or outside memblock."""
    pos = start
    while pos <= end:
        in_mem = any(s <= pos < e for s, e in mb.memory)
        if in_mem and not any(s <= pos < e for s, e in mb.reserved):
            return False
        pos += PAGE
    return True


def _first_in_use_page(root: Resource, mb: Memblock, start: int, end: int) -> int | None:
    for r in _ram_nodes(root, start, end):
        s, e = max(r.start, start), min(r.end, end)
        s = -(-s // PAGE) * PAGE
        pos = s
        while pos + PAGE - 1 <= e:
            if any(a <= pos < b for a, b in mb.memory) and not any(
                a <= pos < b for a, b in mb.reserved
            ):
                return pos
            pos += PAGE
    return None


def _region_intersects_ram(root: Resource, start: int, end: int) -> str:
    typ = other = 0
    for r in root.children:
        if r.overlaps(start, end):
            if r.system_ram:
                typ += 1
            else:
                other += 1
    if typ == 0:
        return "disjoint"
    return "intersects" if other == 0 else "mixed"


def _ram_coverage(root: Resource, start: int, end: int) -> str:
    """pat_pagerange_is_ram(): "all" (1), "none" (0) or "mixed" (-1), as the kernel decides.

    Pages below 1 MiB are skipped, only pages wholly inside System RAM count (so 0x9f000,
    half EBDA, is not RAM), and "mixed" means a non-RAM gap *before* a RAM chunk: a range
    that starts in RAM and runs past its end counts as RAM [verified: ioremap of
    0xf7ff000+0x2000 across RAM and a memmap=! range works when the RAM page is reserved].
    """
    start_pfn = max(start // PAGE, 0x100000 // PAGE)
    end_pfn = -(-(end + 1) // PAGE)
    if start_pfn >= end_pfn:
        return "none"
    cur, ram, not_ram = start_pfn, False, False
    for r in sorted(_ram_nodes(root, start, end), key=lambda r: r.start):
        lo = max(-(-r.start // PAGE), start_pfn)
        hi = min((r.end + 1) // PAGE, end_pfn)
        if hi <= lo:
            continue
        not_ram |= lo > cur
        ram = True
        cur = hi
        if ram and not_ram:
            return "mixed"
    return "all" if ram else "none"


def _ioremap(
    root: Resource,
    mb: Memblock,
    wb: list[WbRange],
    start: int,
    size: int,
    mode: str,
    phys_bits: int,
) -> tuple[bool, str]:
    if size <= 0 or start + size - 1 > (1 << 64) - 1:
        return False, f"size {size:#x}: ioremap refuses size 0 or wraparound"
    last = start + size - 1
    if last >= 1 << phys_bits:
        return False, f"{last:#x} is beyond the CPU's {phys_bits} physical address bits"
    page = _first_in_use_page(root, mb, start, last)
    if page is not None:
        return False, (
            f"ioremap on RAM at {page:#x}: the page is System RAM in use by the kernel "
            "(not boot-reserved)"
        )
    a = start & ~(PAGE - 1)
    b = -(-(last + 1) // PAGE) * PAGE - 1
    if ISA[0] <= a and b < ISA[1]:
        return True, "legacy ISA range, not PAT-tracked"
    cov = _ram_coverage(root, a, b)
    if cov == "mixed":
        return False, (f"memtype_reserve failed -22: {_rng(a, b)} is part System RAM, part not")
    if cov == "all":
        return True, "boot-reserved RAM pages (PageReserved): remapped, direct map changed"
    if mode != "WB":
        for w in wb:
            if w.start <= b and a <= w.end:
                return False, (
                    f"PAT conflict: {_rng(w.start, w.end)} is {w.what} mapped write-back "
                    f"(ioremap error for {a:#x}-{b + 1:#x}, requested 0x2, got 0x0)"
                )
    return True, "no RAM in use, no conflicting memtype"


def probe(
    root: Resource,
    mb: Memblock,
    wb: list[WbRange],
    start: int,
    size: int,
    *,
    max_pfn: int,
    strict_devmem: bool = True,
    io_strict_devmem: bool = True,
    iomem_relaxed: bool = False,
    phys_bits: int = 40,
) -> Probe:
    """Every gate's outcome for [start, start+size) and why, in words."""
    reasons: list[str] = []
    ok, why = _ioremap(root, mb, wb, start, size, "UC-", phys_bits)
    ioremap = "ok" if ok else "fail"
    reasons.append(f"ioremap {ioremap}: {why}")

    last = start + max(size, 1) - 1
    ri = _region_intersects_ram(root, start, last)
    if size <= 0:
        memremap, mwhy = "fail", "size 0"
    elif ri == "mixed":
        memremap, mwhy = (
            "fail",
            "memremap attempted on mixed range (System RAM and other resources)",
        )
    elif ri == "intersects":
        memremap, mwhy = "ok", "System RAM: returns the kernel's direct map (WB)"
    else:
        ok2, w2 = _ioremap(root, mb, wb, start, size, "WB", phys_bits)
        memremap, mwhy = ("ok" if ok2 else "fail"), f"via ioremap_cache (WB): {w2}"
    reasons.append(f"memremap(WB) {memremap}: {mwhy}")

    try:
        res = request_region(root, start, size, "probe")
        where = res.parent
        release_region(res)
        if where is not None and where is not root:
            rwhy_parent = f" (nests under {_rng(where.start, where.end)} : {where.name})"
        else:
            rwhy_parent = ""
        rmr, rwhy = "ok", "no busy resource in the way" + rwhy_parent
    except ResourceBusy as exc:
        rmr, rwhy = "fail", str(exc).split(": ", 1)[-1]
    reasons.append(f"request_mem_region {rmr}: {rwhy}")

    dm, dwhy = _devmem_mmap(root, wb, start, last, strict_devmem, io_strict_devmem, iomem_relaxed)
    reasons.append(f"/dev/mem mmap {dm}: {dwhy}")
    high = max_pfn * PAGE
    if last < high:
        dr = "ok" if dm in ("ok", "EAGAIN") else dm
        rd = "below high_memory"
    else:
        dr, rd = "EFAULT", f"above high_memory ({high:#x}), mmap it instead"
    reasons.append(f"/dev/mem read {dr}: {rd}")
    ram = {"intersects": "all", "disjoint": "none"}.get(ri, "mixed")
    return Probe(start, size, ioremap, memremap, rmr, dm, dr, "; ".join(reasons), ram)


def _devmem_mmap(
    root: Resource,
    wb: list[WbRange],
    start: int,
    last: int,
    strict: bool,
    io_strict: bool,
    relaxed: bool,
) -> tuple[str, str]:
    if not strict:
        return "ok", "CONFIG_STRICT_DEVMEM is off"
    a = start & ~(PAGE - 1)
    pos = a
    while pos <= last:
        pe = pos + PAGE - 1
        if _region_intersects_ram(root, pos, pe) != "disjoint" and pos >= 0x100000:
            return "EPERM", f"page {pos:#x} is System RAM (devmem_is_allowed)"
        if pos >= 0x100000:
            for _, r in root.walk():
                if not r.overlaps(pos, pe):
                    continue
                if r.system_ram and r.flags & 0x08000000:
                    return "EPERM", f"{_rng(r.start, r.end)} : {r.name} is exclusive"
                if relaxed or not r.busy:
                    continue
                if io_strict:
                    return "EPERM", (
                        f"{_rng(r.start, r.end)} : {r.name} is busy and "
                        "CONFIG_IO_STRICT_DEVMEM=y (iomem=relaxed allows it)"
                    )
        pos += PAGE
    for w in wb:
        if w.start <= last and start <= w.end and not (ISA[0] <= start and last < ISA[1]):
            return "EAGAIN", (
                f"x86/PAT: devmem expected uncached-minus for {_rng(max(w.start, a), w.end)},"
                f" got write-back ({w.what})"
            )
    return "ok", "allowed"
