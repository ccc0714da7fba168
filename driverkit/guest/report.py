"""Pure parsers for what the Linux guest prints: its delimited reports and kernel log lines.

The guest's init (guest/linux/init) prints `=== DK BEGIN name ===` ... `=== DK END name ===`
sections (iomem, memmap, meminfo, buddyinfo, zoneinfo, dmesg, dkprobe, ...). Everything here
works on plain text, so it is tested on captured boot logs without QEMU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

from ..errors import GuestError
from ..mem import Carveout, E820Entry, parse_e820_log

_SECTION = re.compile(r"^=== DK BEGIN (\S+) ===\n(.*?)^=== DK END \1 ===$", re.M | re.S)
_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\] ", re.M)


def normalize(text: str | bytes) -> str:
    """Serial output as text with plain newlines (the tty turns \\n into \\r\\n)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text.replace("\r\n", "\n").replace("\r", "")


def split_sections(text: str | bytes) -> dict[str, str]:
    """The guest's delimited reports by name (the last one wins if a name repeats)."""
    return {m.group(1): m.group(2) for m in _SECTION.finditer(normalize(text))}


def strip_timestamps(text: str) -> str:
    """dmesg lines without their `[    1.234567] ` prefix."""
    return _TIMESTAMP.sub("", text)


# --- /proc/iomem --------------------------------------------------------------------------


@dataclass
class IomemNode:
    """One /proc/iomem resource: [start, end] inclusive, with nested children."""

    start: int
    end: int
    name: str
    children: list["IomemNode"] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def walk(self) -> Iterator["IomemNode"]:
        """This node and all its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def line(self) -> str:
        """This node as a top-level /proc/iomem line."""
        return f"{self.start:08x}-{self.end:08x} : {self.name}"

    def to_dict(self) -> dict:
        """The shape `driverkit memplan --json` uses for iomem entries."""
        return {"start": self.start, "end": self.end, "name": self.name,
                "children": [c.to_dict() for c in self.children]}


_IOMEM_LINE = re.compile(r"^( *)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.*)$")


def parse_iomem(text: str) -> list[IomemNode]:
    """/proc/iomem text (two spaces of indent per level) into a tree of top-level nodes."""
    roots: list[IomemNode] = []
    stack: list[tuple[int, IomemNode]] = []  # (indent, node)
    for lineno, line in enumerate(normalize(text).splitlines(), 1):
        if not line.strip():
            continue
        m = _IOMEM_LINE.match(line)
        if not m:
            raise GuestError(f"/proc/iomem line {lineno} is not 'start-end : name': {line!r}")
        indent = len(m.group(1))
        node = IomemNode(int(m.group(2), 16), int(m.group(3), 16), m.group(4))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        (stack[-1][1].children if stack else roots).append(node)
        stack.append((indent, node))
    return roots


def iomem_find(roots: list[IomemNode], name: str) -> list[IomemNode]:
    """Every node in the tree whose name is `name`."""
    return [n for r in roots for n in r.walk() if n.name == name]


def iomem_overlapping(roots: list[IomemNode], start: int, end: int) -> list[IomemNode]:
    """The top-level nodes that overlap [start, end] (inclusive)."""
    return [n for n in roots if n.start <= end and n.end >= start]


# --- /proc/meminfo, /proc/buddyinfo, /proc/zoneinfo ---------------------------------------


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo as name -> number (kB for the fields that carry 'kB', else a count)."""
    out: dict[str, int] = {}
    for line in normalize(text).splitlines():
        m = re.match(r"^([\w()]+):\s+(\d+)(?: kB)?$", line.strip())
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


@dataclass(frozen=True)
class BuddyZone:
    """One /proc/buddyinfo row: free blocks per order for a node's zone."""

    node: int
    zone: str
    free: tuple[int, ...]

    @property
    def max_order(self) -> int:
        """The highest order with a free block, or -1 if the zone is empty."""
        return max((o for o, n in enumerate(self.free) if n), default=-1)

    @property
    def free_pages(self) -> int:
        return sum(n << o for o, n in enumerate(self.free))


def parse_buddyinfo(text: str) -> list[BuddyZone]:
    """`Node 0, zone      DMA      1  0 ...` rows."""
    zones = []
    for line in normalize(text).splitlines():
        m = re.match(r"^Node (\d+), zone\s+(\S+)\s+([\d\s]+)$", line.strip())
        if m:
            zones.append(BuddyZone(int(m.group(1)), m.group(2),
                                   tuple(int(x) for x in m.group(3).split())))
    return zones


def parse_zoneinfo(text: str) -> dict[str, dict[str, int]]:
    """/proc/zoneinfo as "node0/DMA32" -> {spanned, present, managed, start_pfn, free, ...}.

    Only the zone's own `name value` lines are kept (the per-cpu and vm-stat tables that
    repeat names are skipped after the first occurrence of each name).
    """
    zones: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    for line in normalize(text).splitlines():
        m = re.match(r"^Node (\d+), zone\s+(\S+)", line)
        if m:
            current = zones.setdefault(f"node{m.group(1)}/{m.group(2)}", {})
            continue
        if current is None:
            continue
        m = re.match(r"^\s+(?:pages )?(\w+):?\s+(\d+)$", line)
        if m and m.group(1) not in current:
            current[m.group(1)] = int(m.group(2))
    return zones


# --- kernel log lines ----------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryLine:
    """`Memory: X/YK available (... NK reserved, MK cma-reserved)`; Y is the present-pages total."""

    available_kb: int
    total_kb: int
    reserved_kb: int | None
    cma_reserved_kb: int | None


_MEMORY = re.compile(r"Memory: (\d+)K/(\d+)K available(?: \(([^)]*)\))?")


def parse_memory_line(text: str) -> MemoryLine | None:
    """The first `Memory: X/YK available` line of a kernel log, or None."""
    m = _MEMORY.search(normalize(text))
    if not m:
        return None
    detail = m.group(3) or ""
    reserved = re.search(r"(\d+)K reserved", detail)
    cma = re.search(r"(\d+)K cma-reserved", detail)
    return MemoryLine(int(m.group(1)), int(m.group(2)),
                      int(reserved.group(1)) if reserved else None,
                      int(cma.group(1)) if cma else None)


def ioremap_error(text: str) -> str | None:
    """The first `ioremap error for ...` line (x86 PAT refusing a mapping), or None."""
    m = re.search(r"ioremap error for .*$", normalize(text), re.M)
    return m.group(0).strip() if m else None


def parse_ram_buffers(text: str) -> list[tuple[int, int]]:
    """`e820: reserve RAM buffer [mem a-b]` ranges (start, end inclusive), in order, no repeats."""
    seen: list[tuple[int, int]] = []
    for m in re.finditer(r"e820: reserve RAM buffer \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\]",
                         normalize(text)):
        r = (int(m.group(1), 16), int(m.group(2), 16))
        if r not in seen:
            seen.append(r)
    return seen


_MIB = 1 << 20


def parse_carveouts(text: str) -> list[Carveout]:
    """`cma: Reserved N MiB at ADDR` and crashkernel reservation lines, once each, as
    driverkit.mem's Carveout (the model's carve-outs are the same type).

    Formats (Linux 6.1): x86 `Reserving 64MB of memory at 160MB for crashkernel (System RAM:
    255MB)`; arm64 and x86 6.7+ `crashkernel reserved: 0x... - 0x... (64 MB)` (end exclusive; its low
    part `crashkernel low memory reserved: ...`);
    `cma: Reserved 16 MiB at 0x000000000f000000` (newer kernels append ` on node -1`).
    """
    text = normalize(text)
    out: list[Carveout] = []

    def add(c: Carveout) -> None:
        if c not in out:
            out.append(c)

    for m in re.finditer(r"cma: Reserved (\d+) MiB at (0x[0-9a-fA-F]+)", text):
        add(Carveout("cma", int(m.group(2), 16), int(m.group(1)) * _MIB))
    for m in re.finditer(r"Reserving (\d+)MB of memory at (\d+)MB for crashkernel", text):
        add(Carveout("crashkernel", int(m.group(2)) * _MIB, int(m.group(1)) * _MIB))
    for m in re.finditer(r"Reserving (\d+)MB of low memory at (\d+)MB for crashkernel", text):
        add(Carveout("crashkernel_low", int(m.group(2)) * _MIB, int(m.group(1)) * _MIB))
    for m in re.finditer(
        r"crashkernel reserved: (0x[0-9a-fA-F]+) - (0x[0-9a-fA-F]+) \((\d+) MB\)", text
    ):
        start, end = int(m.group(1), 16), int(m.group(2), 16)
        add(Carveout("crashkernel", start, end - start))
    for m in re.finditer(  # 6.7+ x86, generic code
        r"crashkernel low memory reserved: (0x[0-9a-fA-F]+) - (0x[0-9a-fA-F]+)", text
    ):
        start, end = int(m.group(1), 16), int(m.group(2), 16)
        add(Carveout("crashkernel_low", start, end - start))
    return out


# --- DKPROBE lines -------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeProbe:
    """dkprobe's outcome for one physical range."""

    start: int
    size: int
    ram: str  # "all" | "none" | "mixed": overlap with System RAM (region_intersects)
    request: str  # "ok" | "ebusy"
    ioremap: str  # "ok" | "fail"
    rw: str  # writel/readl round trip at offset 0: "ok" | "mismatch" | "skip"
    rw_read: int
    memremap: str  # MEMREMAP_WB: "ok" | "fail"

    def to_dict(self) -> dict:
        """The shape of `memplan --json` "probes" entries (plus request/ram/rw)."""
        return {"start": self.start, "size": self.size, "ioremap": self.ioremap,
                "memremap": self.memremap, "request": self.request, "ram": self.ram,
                "rw": self.rw}


@dataclass(frozen=True)
class PatternResult:
    """A pattern written (mode "write") or checked (mode "verify") through ioremap."""

    start: int
    size: int
    seed: int
    mode: str
    ioremap: str
    mismatches: int | None
    first_bad: int | None


@dataclass
class ProbeReport:
    """Everything one dkprobe run printed, decoded."""

    info: dict[str, str] = field(default_factory=dict)  # the "begin" line
    gfp: dict[int, bool] = field(default_factory=dict)  # order -> succeeded
    kmalloc: dict[int, bool] = field(default_factory=dict)  # size -> succeeded
    vmalloc: dict[int, bool] = field(default_factory=dict)
    dma: dict[int, dict[int, int | None]] = field(default_factory=dict)  # mask bits -> size -> addr
    dma_failed: dict[int, list[int]] = field(default_factory=dict)  # mask bits -> sizes that failed
    values: dict[str, int] = field(default_factory=dict)  # summary lines name=value
    ranges: list[RangeProbe] = field(default_factory=list)
    patterns: list[PatternResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    complete: bool = False
    lines: list[str] = field(default_factory=list)

    @property
    def gfp_max_order(self) -> int | None:
        return self.values.get("gfp_max_order")

    @property
    def kmalloc_max(self) -> int | None:
        return self.values.get("kmalloc_max")

    @property
    def vmalloc_max(self) -> int | None:
        return self.values.get("vmalloc_max")

    @property
    def vmalloc_runs(self) -> int | None:
        return self.values.get("vmalloc_runs")

    @property
    def dma_coherent_max(self) -> int | None:
        """Largest dma_alloc_coherent size that succeeded with a 32-bit mask."""
        return self.values.get("dma_coherent_max_32")

    def range(self, start: int, size: int) -> RangeProbe:
        """The result for exactly this range."""
        for r in self.ranges:
            if (r.start, r.size) == (start, size):
                return r
        raise GuestError(f"dkprobe did not probe {start:#x}+{size:#x}; "
                         f"probed: {[(hex(r.start), hex(r.size)) for r in self.ranges]}")

    def limits(self) -> dict[str, int]:
        """The measured counterparts of `memplan --json` "limits"."""
        keys = {"gfp_max_order": self.gfp_max_order, "kmalloc_max": self.kmalloc_max,
                "dma_coherent_max": self.dma_coherent_max, "vmalloc_max": self.vmalloc_max}
        return {k: v for k, v in keys.items() if v is not None}


_DKPROBE = re.compile(r"(?:^|\s)DKPROBE (.*)$", re.M)


def _kv(words: list[str]) -> dict[str, str]:
    return dict(w.split("=", 1) for w in words if "=" in w)


def _int(s: str) -> int:
    return int(s, 0)


def parse_dkprobe(text: str) -> ProbeReport:
    """The last complete-or-not dkprobe run in `text` (from `begin` to `end`)."""
    lines = [m.group(1).strip() for m in _DKPROBE.finditer(normalize(text))]
    begins = [i for i, line in enumerate(lines) if line.split()[:1] == ["begin"]]
    if begins:
        lines = lines[begins[-1]:]
    rep = ProbeReport()
    for line in lines:
        words = line.split()
        if not words:
            continue
        rep.lines.append(line)
        topic, kv = words[0], _kv(words[1:])
        try:
            if topic == "end":
                rep.complete = True
                break
            if "=" in topic and len(words) == 1:
                name, value = topic.split("=", 1)
                rep.values[name] = _int(value)
            elif topic == "begin":
                rep.info = kv
            elif topic == "gfp":
                rep.gfp[_int(kv["order"])] = kv["result"] == "ok"
            elif topic == "kmalloc":
                rep.kmalloc[_int(kv["size"])] = kv["result"] == "ok"
            elif topic == "vmalloc":
                rep.vmalloc[_int(kv["size"])] = kv["result"] == "ok"
            elif topic == "dma" and "size" in kv:
                bits, size = _int(kv["mask"]), _int(kv["size"])
                if kv["result"] == "ok":
                    rep.dma.setdefault(bits, {})[size] = _int(kv["addr"]) if "addr" in kv else None
                else:
                    rep.dma_failed.setdefault(bits, []).append(size)
            elif topic == "dma" and "set_mask" in kv:
                # dma_set_mask() refused: on arm64 virt RAM starts at 1 GiB, so no 24-bit mask
                rep.values[f"dma_set_mask_{_int(kv['mask'])}"] = _int(kv["set_mask"])
            elif topic == "range" and "start" in kv:
                rep.ranges.append(RangeProbe(
                    _int(kv["start"]), _int(kv["size"]), kv["ram"], kv["request"],
                    kv["ioremap"], kv["rw"], _int(kv["rw_read"]), kv["memremap"]))
            elif topic == "pattern" and "start" in kv:
                rep.patterns.append(PatternResult(
                    _int(kv["start"]), _int(kv["size"]), _int(kv["seed"]), kv["mode"],
                    kv["ioremap"],
                    _int(kv["mismatches"]) if "mismatches" in kv else None,
                    _int(kv["first_bad"]) if "first_bad" in kv else None))
            elif topic in ("vmalloc_over",):
                rep.values["vmalloc_over_ok"] = int(kv.get("result") == "ok")
            else:
                rep.errors.append(line)
        except (KeyError, ValueError) as exc:
            raise GuestError(f"malformed DKPROBE line ({exc}): {line!r}") from None
    return rep


# --- the whole boot report -----------------------------------------------------------------


@dataclass
class GuestReport:
    """Everything the guest's init reported at boot, parsed."""

    sections: dict[str, str]
    iomem: list[IomemNode]
    meminfo: dict[str, int]
    buddyinfo: list[BuddyZone]
    zoneinfo: dict[str, dict[str, int]]
    dmesg: str
    memory: MemoryLine | None
    e820: list[E820Entry]
    user_e820: list[E820Entry]
    ram_buffers: list[tuple[int, int]]
    carveouts: list[Carveout]
    probe: ProbeReport | None
    uptime: float | None = None  # guest seconds since boot when the reports were done

    @property
    def memory_total_kb(self) -> int | None:
        return self.memory.total_kb if self.memory else None


REQUIRED_SECTIONS = ("iomem", "meminfo", "buddyinfo", "dmesg")


def parse_report(text: str | bytes) -> GuestReport:
    """Parse a boot's serial output; raises GuestError if a required report is missing."""
    sections = split_sections(text)
    missing = [s for s in REQUIRED_SECTIONS if s not in sections]
    if missing:
        raise GuestError(f"guest output lacks the report section(s) {', '.join(missing)}; "
                         f"found: {', '.join(sections) or 'none'}")
    dmesg = sections["dmesg"]
    return GuestReport(
        sections=sections,
        iomem=parse_iomem(sections["iomem"]),
        meminfo=parse_meminfo(sections["meminfo"]),
        buddyinfo=parse_buddyinfo(sections["buddyinfo"]),
        zoneinfo=parse_zoneinfo(sections.get("zoneinfo", "")),
        dmesg=dmesg,
        memory=parse_memory_line(dmesg),
        e820=parse_e820_log(normalize(dmesg), "BIOS-e820"),
        user_e820=parse_e820_log(normalize(dmesg), "user"),
        ram_buffers=parse_ram_buffers(dmesg),
        carveouts=parse_carveouts(dmesg),
        probe=parse_dkprobe(sections["dkprobe"]) if "dkprobe" in sections else None,
        uptime=float(sections["uptime"].split()[0]) if sections.get("uptime", "").strip() else None,
    )
