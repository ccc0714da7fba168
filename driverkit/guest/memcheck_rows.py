"""The rows of a memcheck: the allocator model's plan and a guest report side by side (pure).

Which rows decide the verdict ("counted" rows):

* /proc/iomem: every line the model predicts, i.e. all lines except PCI device BARs (and
  what nests under them): System RAM, Reserved, RAM buffer, Persistent Memory (legacy), ACPI,
  Kernel code/rodata/data/bss, Crash kernel, and the platform lines (PCI root windows,
  IOAPIC, HPET, Local APIC, ROMs). The kernel image position comes from the guest (KASLR),
  so `Kernel *` lines check the image layout, not where KASLR put it.
* the firmware map and the kernel's map after mem=/memmap= (`BIOS-e820:` / `user:` lines),
  `last_pfn` and the zone spans;
* Y of `Memory: X/YK available` (X is shown, not counted: it depends on the initrd, freed
  init memory and deferred struct pages, which the model does not follow);
* carve-outs the kernel announces: crashkernel (and its low part), cma, swiotlb;
* limits: gfp_max_order, kmalloc_max, dma_coherent_max (32-bit mask);
* per probe: region_intersects with System RAM, request_mem_region, ioremap, memremap(WB).

Shown but not counted: an "Adapter ROM" below 1 MiB that only the kernel lists (firmware
content that varies from boot to boot, see ROM_NOTE); `vmalloc_max` (the model's figure is
an estimate: free memory right after boot; the guest's is the largest vmalloc that
succeeded); `X` of Memory:; the model's bookkeeping carve-outs (the RAM mem=/memmap= took
away, which the kernel does not announce).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Sequence

from ..mem import Carveout, MemPlan
from ..mem.tree import comparable_lines
from ..results import Row, Verdict
from ..units import format_size
from .report import GuestReport, iomem_find, normalize, strip_timestamps

#: model carve-out name -> the name parse_carveouts/this module give the kernel's line
_CARVEOUT_NAMES = {
    "Crash kernel": "crashkernel",
    "Crash kernel (low)": "crashkernel_low",
    "cma": "cma",
    "swiotlb": "swiotlb",
}
COUNTED_LIMITS = ("gfp_max_order", "kmalloc_max", "dma_coherent_max")
ESTIMATED_LIMITS = ("vmalloc_max",)
PROBE_FIELDS = (("ram", "ram"), ("request_mem_region", "request"), ("ioremap", "ioremap"),
                ("memremap", "memremap"))


# --- the kernel side ------------------------------------------------------------------------


_RELEASE = re.compile(r"Linux version (\S+)")


def guest_release(report: GuestReport) -> str | None:
    """The release the guest booted ("Linux version 6.1.0-50-cloud-amd64 ...")."""
    m = _RELEASE.search(report.dmesg)
    return m.group(1) if m else None


def suspect(row: Row, mp: MemPlan) -> str:
    """The part of the model a differing row points at (module and what it models)."""
    k = mp.kernel
    if row.section == "iomem" and row.key.split(" : ")[-1].startswith("Kernel "):
        return (f"the image layout read from {k.source} (driverkit/mem/kernel/vmlinux.py: "
                "section headers -> Kernel code/rodata/data/bss)")
    if row.section == "iomem" and "Crash kernel" in row.key:
        return (f"crashkernel placement: rules '{k.rules.crashkernel}' for Linux "
                f"{'.'.join(map(str, k.version))} (driverkit/mem/kernel/versions.py, boot.py), "
                "and what is allocated before it (NODE_DATA from BTF, brk)")
    return {
        "iomem": "the resource tree: e820 edits (boot.py), platform nodes (platform.py), "
                 "insertion order (tree.py)",
        "e820": "the firmware map of QEMU + SeaBIOS (driverkit/mem/firmware.py)",
        "e820-user": "mem=/memmap= parsing and the e820 edits (cmdline.py, e820.py)",
        "zones": "last_pfn and zone spans from memblock memory (boot.py _zones)",
        "memory": "present pages: memblock memory after mem=/memmap= and trimming (boot.py)",
        "carveouts": (f"boot-time reservations: crashkernel rules '{k.rules.crashkernel}' "
                      f"(versions.py), cma/swiotlb (boot.py), the order and sizes of earlier "
                      f"allocations (NODE_DATA {k.node_data_size:#x} from BTF, brk)"),
        "limits": f"allocator limits for Linux {'.'.join(map(str, k.version))} and its config "
                  "(limits.py)",
        "probes": "the ioremap/memremap/request_mem_region gates (gates.py) and what is "
                  "reserved or freed (the image's freed ranges, memblock)",
    }.get(row.section, f"section {row.section}")


_SWIOTLB = re.compile(r"software IO TLB: mapped \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\]")


def kernel_carveouts(report: GuestReport) -> list[Carveout]:
    """The reservations the guest kernel announced: crashkernel (+low), cma, swiotlb."""
    out = list(report.carveouts)
    m = _SWIOTLB.search(report.dmesg)
    if m:
        a, b = int(m.group(1), 16), int(m.group(2), 16)
        out.append(Carveout("swiotlb", a, b - a))
    return out


def kernel_position(report: GuestReport) -> int | None:
    """Where KASLR put the kernel image in this boot (start of `Kernel code`)."""
    nodes = iomem_find(report.iomem, "Kernel code")
    return nodes[0].start if nodes else None


def _iomem_text(report: GuestReport) -> str:
    return normalize(report.sections.get("iomem", ""))


# --- row builders -----------------------------------------------------------------------------


def aligned_rows(section: str, model: Sequence[str], kernel: Sequence[str]) -> list[Row]:
    """Line up two line lists (difflib), one row per line; unmatched lines DIFFER."""
    rows: list[Row] = []
    sm = difflib.SequenceMatcher(a=list(model), b=list(kernel), autojunk=False)
    for op, a0, a1, b0, b1 in sm.get_opcodes():
        if op == "equal":
            pairs = [(model[a0 + i], kernel[b0 + i]) for i in range(a1 - a0)]
        else:
            n = max(a1 - a0, b1 - b0)
            pairs = [(model[a0 + i] if a0 + i < a1 else None,
                      kernel[b0 + i] if b0 + i < b1 else None) for i in range(n)]
        for m, k in pairs:
            line = m if m is not None else k
            rows.append(Row(section, line.strip(), m, k, Verdict.of(m == k)))
    return rows


_ISA_ROM = re.compile(r"^\s*([0-9a-f]+)-[0-9a-f]+ : (Adapter ROM|Extension ROM)$")


def _firmware_content_row(row: Row) -> Row:
    """A legacy ROM the kernel found only in this boot: not counted (see ROM_NOTE)."""
    m = _ISA_ROM.match(row.observed or "") if row.expected is None else None
    if m and 0xC0000 <= int(m.group(1), 16) < 0xF0000:
        return dataclasses.replace(row, verdict=Verdict.INFO, note=ROM_NOTE)
    return row


#: Why an extra "Adapter ROM" below 1 MiB is shown but not counted.
ROM_NOTE = ("probe_roms() takes any 2K-aligned 0x55AA block with a valid checksum in "
            "0xc0000-0xeffff; SeaBIOS leaves one at 0xe8800 (length 0x7800) holding runtime "
            "data, so its checksum is valid in some boots only: firmware content, not config")


def _iomem_rows(mp: MemPlan, report: GuestReport) -> list[Row]:
    model = comparable_lines(mp.iomem_text(), kernel=True)
    kernel = comparable_lines(_iomem_text(report), kernel=True)
    return [_firmware_content_row(r) for r in aligned_rows("iomem", model, kernel)]


def _log_lines(dmesg: str, prefix: str) -> list[str]:
    lines = []
    for ln in strip_timestamps(normalize(dmesg)).splitlines():
        ln = ln.strip()
        if ln.startswith(prefix + ": [mem "):
            if lines and ln == lines[0]:
                break  # the map printed again
            lines.append(ln)
    return lines


def _compact_e820(line: str) -> str:
    """`BIOS-e820: [mem 0x00..0-0x00..f] usable` -> `00..0-00..f usable` (lossless per section)."""
    m = re.match(r"^\S+: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] (.*)$", line)
    return f"{m.group(1)}-{m.group(2)} {m.group(3)}" if m else line


def _e820_rows(mp: MemPlan, report: GuestReport) -> list[Row]:
    st = mp.state
    rows = aligned_rows("e820", [_compact_e820(e.log_line("BIOS-e820")) for e in st.firmware],
                    [_compact_e820(x) for x in _log_lines(report.dmesg, "BIOS-e820")])
    user_model = [_compact_e820(e.log_line("user")) for e in st.user_map or []]
    user_kernel = [_compact_e820(x) for x in _log_lines(report.dmesg, "user")]
    rows += aligned_rows("e820-user", user_model, user_kernel)
    return rows


_ZONE = re.compile(r"^\s+(DMA|DMA32|Normal)\s+(empty|\[mem 0x[0-9a-f]+-0x[0-9a-f]+\])$", re.M)


def _zone_rows(mp: MemPlan, report: GuestReport) -> list[Row]:
    text = strip_timestamps(normalize(report.dmesg))
    rows = []
    m = re.search(r"last_pfn = (0x[0-9a-f]+)", text)
    got = f"last_pfn = {m.group(1)}" if m else None
    want = f"last_pfn = {mp.state.max_pfn:#x}"
    rows.append(Row("zones", "last_pfn", want, got, Verdict.of(want == got)))
    kernel_zones = {name: span for name, span in _ZONE.findall(text)[:3]}
    for z in mp.state.zones:
        want = f"{z.name:<6} " + ("empty" if z.empty else f"{z.start:016x}-{z.end - 1:016x}")
        span = kernel_zones.get(z.name)
        got = None
        if span:
            m = re.match(r"\[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]", span)
            got = f"{z.name:<6} " + (f"{m.group(1)}-{m.group(2)}" if m else span)
        rows.append(Row("zones", z.name, want, got, Verdict.of(want == got)))
    return rows


def memory_rows(mp: MemPlan, report: GuestReport) -> list[Row]:
    """Y of `Memory: X/YK available` (counted) and X (shown only)."""
    y = report.memory_total_kb
    got = f"Y = {y}K" if y is not None else None
    want = f"Y = {mp.memory_total_kb}K"
    rows = [Row("memory", "Y", want, got, Verdict.of(want == got),
                "present pages x 4K")]
    x = report.memory.available_kb if report.memory else None
    rows.append(Row("memory", "X", None, f"X = {x}K" if x is not None else None, Verdict.INFO,
                    "available at that point; not modelled"))
    return rows


def carveout_rows(mp: MemPlan, report: GuestReport) -> list[Row]:
    """The boot-time reservations both sides name (crashkernel, cma, swiotlb); the model's
    bookkeeping ones as info."""
    def fmt(name: str, start: int, size: int) -> str:
        return f"{name} {start:#x}-{start + size - 1:#x} ({format_size(size)})"

    model: dict[str, str] = {}
    rows: list[Row] = []
    for c in mp.state.carveouts:
        key = _CARVEOUT_NAMES.get(c.name)
        if key is None:
            rows.append(Row("carveouts", c.name, fmt(c.name, c.start, c.size), None, Verdict.INFO,
                            "model bookkeeping; the kernel does not announce it"))
        else:
            model[key] = fmt(key, c.start, c.size)
    kernel = {c.name: fmt(c.name, c.start, c.size) for c in kernel_carveouts(report)}
    known = list(_CARVEOUT_NAMES.values())
    for key in sorted(set(model) | set(kernel),
                      key=lambda k: (known.index(k) if k in known else len(known), k)):
        m, k = model.get(key), kernel.get(key)
        rows.append(Row("carveouts", key, m, k, Verdict.of(m == k)))
    if "cma" not in model and "cma" not in kernel and re.search(r"(^|\s)cma=", mp.cmdline.text):
        note = "" if mp.kconfig.enabled("CMA") else "this kernel has no CONFIG_CMA: cma= ignored"
        rows.append(Row("carveouts", "cma", "no CMA", "no CMA", Verdict.AGREE, note))
    elif not model and not kernel:
        rows.append(Row("carveouts", "none", "none", "none", Verdict.AGREE,
                        "no crashkernel/cma/swiotlb reserved"))
    return rows


def limit_rows(mp: MemPlan, report: GuestReport) -> list[Row]:
    """Allocator limits the model predicts against dkprobe's (vmalloc_max: info)."""
    got = report.probe.limits() if report.probe else {}
    rows = []
    for key in COUNTED_LIMITS + ESTIMATED_LIMITS:
        want = mp.limits.get(key)
        have = got.get(key)
        m = None if want is None else f"{key} {want}"
        k = None if have is None else f"{key} {have}"
        if key in ESTIMATED_LIMITS:
            rows.append(Row("limits", key, m, k, Verdict.INFO, "model estimate, not counted"))
        else:
            rows.append(Row("limits", key, m, k, Verdict.of(m == k)))
    return rows


def _norm_outcome(v: str) -> str:
    return {"ebusy": "fail"}.get(v, v)


def probe_rows(mp: MemPlan, report: GuestReport) -> list[Row]:
    """Per probed range: region_intersects, request_mem_region, ioremap, memremap."""
    rows = []
    ranges = report.probe.ranges if report.probe else []
    for p in mp.probes:
        name = f"{p.start:#x}+{p.size:#x}"
        real = next((r for r in ranges if (r.start, r.size) == (p.start, p.size)), None)
        got = real.to_dict() if real else {}
        for mkey, kkey in PROBE_FIELDS:
            m = getattr(p, mkey)
            k = _norm_outcome(got[kkey]) if kkey in got else None
            rows.append(Row("probes", f"{name} {mkey}", f"{name} {mkey} {m}",
                            None if k is None else f"{name} {mkey} {k}",
                            Verdict.of(m == k)))
    return rows


def compare(mp: MemPlan, report: GuestReport) -> list[Row]:
    """Every row of the comparison between a plan and a guest report (no QEMU involved)."""
    return (_iomem_rows(mp, report) + _e820_rows(mp, report) + _zone_rows(mp, report)
            + memory_rows(mp, report) + carveout_rows(mp, report) + limit_rows(mp, report)
            + probe_rows(mp, report))
