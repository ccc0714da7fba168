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
"""

from __future__ import annotations

import contextlib
import re
import textwrap
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable

from ..errors import GuestError
from ..machine.machine import Machine
from ..mem import plan
from ..mem.plan import MemPlan
from ..results import JsonResult
from ..units import format_size
from .artifacts import GuestArtifacts
from .linux import linux_guest_spec
from .report import GuestReport, iomem_find
from .shell import GuestShell

MACHINE, MEMORY = "pc", "256M"  # the configuration linux-memory.md section 6 measured
CMDLINE = "mem=248M iomem=relaxed"  # the article's mem=, plus /dev/mem access (see step 5)
CLEAN_CMDLINE = "memmap=8M$248M"  # what works instead: a non-busy "Reserved" carve-out
ARTICLE_RANGE = (0xF800000, 8 << 20)  # the article's ioremap(0xf800000, 8M)
PAYLOAD_SIZE = 256  # bytes edu copies RAM -> device -> RAM (its buffer is 4 KiB)
DEVMEM_BYTES = 64  # how much of it the guest reads back, one devmem word at a time
GUEST_MAGIC = 0x5EEDA11C  # a word the guest writes with devmem for the host to read

Say = Callable[[str], None]


@dataclass(frozen=True)
class Row:
    """One line of the article's comparison table with the figure measured on the guest."""

    call: str
    article: str
    measured: str
    verdict: str  # "holds" | "partly" | "outdated" | "instead" (not in the article)
    why: str


@dataclass
class SeedResult(JsonResult):
    """Everything one run found; `to_json()` is what `scripts/demo.py --json` prints."""

    carveout: dict[str, Any] = field(default_factory=dict)  # start, size, end, source
    model: dict[str, Any] = field(default_factory=dict)  # memplan --json shape + agreement
    boot: dict[str, Any] = field(default_factory=dict)  # the mem=248M guest, measured
    pool: dict[str, Any] = field(default_factory=dict)
    dma: dict[str, Any] = field(default_factory=dict)
    readback: dict[str, Any] = field(default_factory=dict)
    clean: dict[str, Any] | None = None  # the memmap=8M$248M guest, if booted
    table: list[Row] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "table"}
        out["table"] = [asdict(r) for r in self.table]
        return out


class _Steps:
    """Numbered progress lines with the time since the start."""

    def __init__(self, say: Say, total: int) -> None:
        self.say, self.total, self.n, self.t0 = say, total, 0, time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def step(self, title: str) -> None:
        self.n += 1
        self.say(f"\n[{self.n}/{self.total}] {title}   (t={self.elapsed():.1f}s)")

    def line(self, text: str = "") -> None:
        self.say(f"    {text}" if text else "")


def _hx(n: int) -> str:
    return f"{n:#x}"


# --- 1. the model -------------------------------------------------------------------------


def carveout_from_model(model: MemPlan) -> tuple[int, int]:
    """(start, size) of the RAM mem= leaves unused: from the model's carve-outs, so it ends
    where the firmware's reserved high tables begin (not at 256 MiB)."""
    windows = [c for c in model.state.carveouts if c.name.endswith(" window")]
    if len(windows) != 1:
        raise GuestError(f"the model lists {len(windows)} mem= windows, expected one: "
                         f"{model.state.carveouts}")
    return windows[0].start, windows[0].size


def _model_sections(text: str, headings: tuple[str, ...]) -> list[str]:
    """The blocks of MemPlan.to_text() whose heading starts with one of `headings`."""
    out: list[str] = []
    for block in text.strip().split("\n\n"):
        if block.startswith(headings):
            out += block.splitlines() + [""]
    return out[:-1]


# --- measured facts from the guest ---------------------------------------------------------


async def _guest_symbols(shell: GuestShell, names: tuple[str, ...]) -> dict[str, bool]:
    """Whether each function name exists in the running kernel (/proc/kallsyms)."""
    words = " ".join(f"-e {n}" for n in names)
    r = await shell.run(f"grep -wF {words} /proc/kallsyms")  # -F: a regex takes seconds on TCG
    found = {line.split()[2] for line in r.output.splitlines() if len(line.split()) >= 3}
    return {n: n in found for n in names}


async def _largest_slab_cache(shell: GuestShell) -> int:
    """The largest generic kmalloc-N slab cache in /proc/slabinfo (bytes)."""
    text = await shell.read_file("/proc/slabinfo")
    sizes = [int(n) * (1024 if k else 1)
             for n, k in re.findall(r"^kmalloc-(\d+)(k?) ", text, re.M)]
    if not sizes:
        raise GuestError("/proc/slabinfo lists no kmalloc-N caches")
    return max(sizes)


async def _devmem_read(shell: GuestShell, start: int, n: int) -> bytes:
    """`n` bytes at physical `start`, read in the guest by busybox devmem (mmap of /dev/mem)."""
    addrs = " ".join(_hx(a) for a in range(start, start + n, 4))
    r = await shell.run(f"for a in {addrs}; do devmem $a 32 || exit 1; done", check=True)
    words = [int(w, 16) for w in r.output.split()]
    if len(words) != n // 4:
        raise GuestError(f"devmem printed {len(words)} words for {n // 4} reads: {r.output!r}")
    return b"".join(w.to_bytes(4, "little") for w in words)


def _iomem_window(report: GuestReport, start: int, end: int) -> list[str]:
    """The top-level /proc/iomem lines that overlap [start, end]."""
    return [f"{n.start:08x}-{n.end:08x} : {n.name}" for n in report.iomem
            if n.start <= end and n.end >= start]


def _ioremap_error_line(dmesg: str) -> str | None:
    m = re.search(r"ioremap error for .*$", dmesg, re.M)
    return m.group(0).strip() if m else None


def _edu_driver() -> Any:
    """The edu driver class, through the driverkit.devices entry points (no upward import)."""
    eps = {ep.name: ep for ep in entry_points(group="driverkit.devices")}
    if "edu" not in eps:
        raise GuestError("no 'edu' driver in entry-point group driverkit.devices "
                         "(is driverkit installed with `pip install -e .`?)")
    return eps["edu"].load()


def _payload(n: int) -> bytes:
    text = b"seed article: mem=248M, top of RAM as a DMA pool, edu copied this. "
    return (text * (n // len(text) + 1))[:n]


# --- the comparison table ------------------------------------------------------------------


def comparison(boot: dict[str, Any], clean: dict[str, Any] | None) -> list[Row]:
    """The article's claims next to the measured figures; the verdicts follow the numbers."""
    lim, art, use = boot["limits"], boot["article_range"], boot["usable_range"]
    mib4 = 4 << 20
    rows = []
    gfp = lim["gfp_max_order"]
    rows.append(Row(
        "__get_free_pages", "4 MB", f"order {gfp} = {format_size(4096 << gfp)}",
        "holds" if 4096 << gfp == mib4 else "outdated",
        f"the buddy allocator's largest block; order {gfp + 1} fails. MAX_ORDER is 11 on 6.1 "
        "(orders 0..10), MAX_PAGE_ORDER 10 since 6.8: the same 4 MiB"))
    slab = boot["largest_kmalloc_cache"]
    rows.append(Row(
        "kmem_cache_alloc", "KB", f"largest cache kmalloc-{format_size(slab).lower()}",
        "holds" if slab <= 64 << 10 else "outdated",
        "slab caches hold small objects (the generic ones stop at "
        f"{format_size(slab)}, /proc/slabinfo); SLUB would take one object up to 4 MiB "
        "(slab order <= MAX_ORDER-1; source, not measured)"))
    kmax = lim["kmalloc_max"]
    rows.append(Row(
        "kmalloc", "KB (~128 KB)", format_size(kmax),
        "outdated" if kmax > 128 << 10 else "holds",
        f"128 KiB was the largest 2.6-era kmalloc cache; now a request above "
        f"{format_size(slab)} goes straight to the page allocator (rounded up to 2^n pages), "
        f"so KMALLOC_MAX_SIZE = {format_size(kmax)}"))
    vmax, runs = lim["vmalloc_max"], lim["vmalloc_runs"]
    rows.append(Row(
        "vmalloc", "large, discontiguous", f"{format_size(vmax)} in {runs} phys. runs",
        "holds" if vmax > mib4 else "outdated",
        "pages come one at a time from the buddy allocator, so contiguity is luck "
        f"({runs} physically contiguous run(s) on this fresh guest); dkprobe tries up to "
        "about half of MemAvailable"))
    dma = lim["dma_coherent_max"]
    rows.append(Row(
        "dma_alloc_coherent", "4 MB", f"{format_size(dma)} (no CMA)",
        "holds" if dma == mib4 else "outdated",
        "dma-direct falls back to alloc_pages, bounded by MAX_ORDER (32-bit mask); a CMA "
        "area (cma=) lifts the limit"))
    err = boot.get("ioremap_error")
    rows.append(Row(
        "ioremap(0xf800000, 8M)", "works (after mem=248M)",
        "NULL" if art["ioremap"] == "fail" else "mapped",
        "outdated" if art["ioremap"] == "fail" else "holds",
        f"the last {format_size(ARTICLE_RANGE[1] - use['size'])} ({_hx(use['end'] + 1)}..) "
        f"hold SeaBIOS's ACPI tables, which the kernel maps write-back; PAT refuses an "
        f"uncached mapping over them" + (f" (dmesg: {err})" if err else "") + ". "
        f"ioremap({_hx(use['start'])}, {_hx(use['size'])}) "
        f"{'works' if use['ioremap'] == 'ok' else 'fails too'} (writel/readl {use['rw']})"))
    whole, free = use["size"] == ARTICLE_RANGE[1], use["request"] == "ok"
    rows.append(Row(
        "mem=248M", "reserves the top 8 MB",
        f"{format_size(use['size'])}, {'free' if free else 'busy'}",
        "holds" if whole and free else ("partly" if use["ioremap"] == "ok" else "outdated"),
        f"mem= cuts RAM at an address; only {format_size(use['size'])} is free RAM, and it "
        f"becomes a busy {boot['window_resource']!r} resource: request_mem_region "
        f"{use['request']} (so devm_ioremap_resource fails) and /dev/mem needs iomem=relaxed"))
    syms = boot["symbols"]
    rows.append(Row(
        "alloc_bootmem", "reserves at boot (rebuild)",
        "gone" if not syms.get("alloc_bootmem") else "present",
        "holds" if syms.get("alloc_bootmem") else "outdated",
        "not in /proc/kallsyms: the bootmem allocator was removed in 4.20; "
        "memblock_alloc*() (memblock_alloc_try_nid "
        + ("present" if syms.get("memblock_alloc_try_nid") else "absent")
        + ") is its successor, still only for built-in early-boot code"))
    if clean is not None:
        cu = clean["usable_range"]
        ok = cu["request"] == "ok" and cu["ioremap"] == "ok" and clean["devmem_ok"]
        rows.append(Row(
            "memmap=8M$248M", "-", "claimable" if ok else "refused", "instead",
            f"the clean carve-out, no rebuild: a non-busy 'Reserved' region; "
            f"request_mem_region {cu['request']}, ioremap({_hx(cu['size'])}) {cu['ioremap']}, "
            f"devmem {'works' if clean['devmem_ok'] else 'refused'} without iomem=relaxed. "
            "Use memremap(WB) or ioremap up to the firmware tables"))
    return rows


def render_table(rows: list[Row], width: int = 100) -> list[str]:
    """The comparison as aligned text lines, the reason wrapped under each row."""
    heads = ("call", "the article says", "measured", "verdict")
    cols = [[r.call, r.article, r.measured, r.verdict] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cols)) for i, h in enumerate(heads)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*heads).rstrip(), fmt.format(*("-" * w for w in widths))]
    for r, c in zip(rows, cols):
        out.append(fmt.format(*c).rstrip())
        out += textwrap.wrap(r.why, width, initial_indent="    ", subsequent_indent="    ")
    return out


# --- the run -------------------------------------------------------------------------------


def _range_dict(report: GuestReport, rng: tuple[int, int]) -> dict[str, Any]:
    assert report.probe is not None
    r = report.probe.range(*rng)
    return {"start": r.start, "size": r.size, "end": r.start + r.size - 1,
            "request": r.request, "ioremap": r.ioremap, "memremap": r.memremap, "rw": r.rw}


@dataclass
class _Model:
    """Step 1's output: the prediction, and the carve-out the rest of the run uses."""

    plan: MemPlan
    usable: tuple[int, int]
    devmem_without_relaxed: str  # the model's /dev/mem mmap verdict without iomem=relaxed


def step_model(st: _Steps, res: SeedResult, initrd_size: int) -> _Model:
    """1. The model's map for the article's configuration, and the carve-out taken from it."""
    st.step(f"Allocator model: QEMU {MACHINE} {MEMORY}, SeaBIOS, -nodefaults, {CMDLINE!r}")
    start, size = carveout_from_model(
        plan(MACHINE, MEMORY, CMDLINE, defaults=False, initrd_size=initrd_size))
    usable = (start, size)
    model = plan(MACHINE, MEMORY, CMDLINE, probes=[ARTICLE_RANGE, usable], defaults=False,
                 initrd_size=initrd_size)
    strict = plan(MACHINE, MEMORY, CMDLINE.replace(" iomem=relaxed", ""), probes=[usable],
                  defaults=False, initrd_size=initrd_size)
    for ln in _model_sections(model.to_text(), ("Firmware map", "Kernel map", "Carve-outs",
                                                  "Probes")):
        st.line(ln)
    st.line(f"=> carve-out {_hx(start)}-{_hx(start + size - 1)} ({format_size(size)}): "
            f"the mem= window up to the firmware's ACPI tables")
    res.carveout = {"start": start, "size": size, "end": start + size - 1,
                    "source": "driverkit.mem.plan carve-outs (mem= window)"}
    devmem = strict.probes[0].devmem_mmap
    res.model = {**model.to_dict(), "devmem_without_relaxed": devmem}
    return _Model(model, usable, devmem)


async def step_boot(st: _Steps, res: SeedResult, m: Machine, model: _Model,
                    timeout: float) -> GuestShell:
    """2. Wait for the guest's reports; compare them with the model; keep dkprobe's figures."""
    shell = GuestShell(m.console, timeout=20.0)
    report = await shell.wait_ready(timeout)
    probe = report.probe
    if probe is None or not probe.complete or probe.errors:
        raise GuestError(f"dkprobe did not report cleanly: {probe and probe.errors}")
    kernel = probe.info.get("release", "?")
    st.line(f"kernel {kernel} up in {report.uptime:.1f}s guest time; "
            f"{report.memory_total_kb}K present (model: {model.plan.memory_total_kb}K)")
    window = _iomem_window(report, ARTICLE_RANGE[0], sum(ARTICLE_RANGE) - 1)
    for ln in window:
        st.line(f"/proc/iomem  {ln}")
    dmesg_diff = model.plan.diff_dmesg(report.dmesg)
    iomem_diff = model.plan.diff_iomem(report.sections["iomem"])
    st.line(f"model vs guest: boot log {'agrees' if not dmesg_diff else dmesg_diff}; "
            f"/proc/iomem {'agrees' if not iomem_diff else f'{len(iomem_diff)} diff lines'}")
    res.model.update(dmesg_diff=dmesg_diff, iomem_diff=iomem_diff)
    buffers = iomem_find(report.iomem, "RAM buffer")
    res.boot = {
        "cmdline": CMDLINE, "kernel": kernel, "uptime": report.uptime,
        "memory_total_kb": report.memory_total_kb, "iomem": window,
        "window_resource": buffers[0].name if buffers else None,
        "ram_buffers": [(b.start, b.end) for b in buffers],
        "limits": {**probe.limits(), "vmalloc_runs": probe.vmalloc_runs},
        "article_range": _range_dict(report, ARTICLE_RANGE),
        "usable_range": _range_dict(report, model.usable),
        "ioremap_error": _ioremap_error_line(report.sections.get("probe-log", "")),
    }
    return shell


async def step_pool_and_dma(st: _Steps, res: SeedResult, m: Machine,
                            usable: tuple[int, int]) -> tuple[Any, Any, Any]:
    """3-4. The carve-out as a DMA pool; edu copies a payload RAM -> device -> RAM through it.
    Returns the (src, dst, from-guest) buffers, still allocated (freed here on an error)."""
    st.step("The carve-out becomes a DMA pool (m.dma.use_region)")
    start, size = usable
    m.dma.use_region(start, size)
    with contextlib.ExitStack() as allocated:
        src = allocated.enter_context(m.dma.alloc(PAYLOAD_SIZE, name="src"))
        dst = allocated.enter_context(m.dma.alloc(PAYLOAD_SIZE, name="dst"))
        mailbox = allocated.enter_context(m.dma.alloc(64, name="from-guest"))
        stats = m.dma.stats()
        st.line(f"pool {_hx(start)}+{_hx(size)}; buffers src {_hx(src.phys)}, dst "
                f"{_hx(dst.phys)}, from-guest {_hx(mailbox.phys)}; "
                f"{stats.free if stats else '?'} bytes free")
        res.pool = {"start": start, "size": size,
                    "buffers": {b.name: {"phys": b.phys, "size": b.size} for b in m.dma.buffers}}

        edu = await _edu_driver().probe(m)
        st.step(f"edu ({edu.pci.address}, id {edu.regs.id.read():#x}) DMAs "
                f"RAM -> device -> RAM through the pool")
        payload = _payload(PAYLOAD_SIZE)
        src.write(payload)
        t = time.monotonic()
        await edu.dma_to_device(src)
        await edu.dma_from_device(dst)
        ms = (time.monotonic() - t) * 1000
        ok = dst.read() == payload
        st.line(f"{PAYLOAD_SIZE} bytes {_hx(src.phys)} -> edu buffer -> {_hx(dst.phys)} in "
                f"{ms:.0f} ms (edu's DMA timer is 100 ms): "
                f"{'identical' if ok else 'DIFFERENT'}")
        res.dma = {"src": src.phys, "dst": dst.phys, "bytes": PAYLOAD_SIZE, "ok": ok,
                   "ms": round(ms, 1)}
        allocated.pop_all()  # the caller frees them after the read-back
    return src, dst, mailbox


async def step_read_back(st: _Steps, res: SeedResult, m: Machine, shell: GuestShell,
                         model: _Model, dst: Any, mailbox: Any) -> None:
    """5. The DMA'd bytes through the host's ioremap and the guest's devmem; and back."""
    st.step("Reading it back: host m.ioremap, guest busybox devmem")
    start, size = model.usable
    payload = _payload(PAYLOAD_SIZE)
    io = m.ioremap(start, size, name="seed carve-out")
    try:
        host = io.read(dst.phys - start, PAYLOAD_SIZE)
        guest = await _devmem_read(shell, dst.phys, DEVMEM_BYTES)
        await shell.run(f"devmem {_hx(mailbox.phys)} 32 {GUEST_MAGIC:#x}", check=True)
        from_guest = io.readl(mailbox.phys - start)
    finally:
        m.iounmap(io)
    st.line(f"host  ioremap({_hx(start)}, {_hx(size)}) +{_hx(dst.phys - start)}: "
            f"{host[:24]!r}... {'matches' if host == payload else 'DIFFERS'}")
    st.line(f"guest devmem {_hx(dst.phys)}.. ({DEVMEM_BYTES} bytes): {guest[:24]!r}... "
            f"{'matches' if guest == payload[:DEVMEM_BYTES] else 'DIFFERS'}")
    st.line(f"guest wrote {GUEST_MAGIC:#x} at {_hx(mailbox.phys)} with devmem; host readl: "
            f"{from_guest:#x}")
    st.line("devmem works because of iomem=relaxed: the window is a busy 'RAM buffer' and the "
            f"kernel has IO_STRICT_DEVMEM (model without it: {model.devmem_without_relaxed})")
    res.readback = {"host_ok": host == payload, "guest_ok": guest == payload[:DEVMEM_BYTES],
                    "guest_bytes": DEVMEM_BYTES, "guest_wrote": GUEST_MAGIC,
                    "host_read": from_guest,
                    "devmem_without_relaxed": model.devmem_without_relaxed}


async def step_limits(st: _Steps, res: SeedResult, shell: GuestShell) -> None:
    """6. What dkprobe measured at boot, plus the kernel's symbols and slab caches."""
    st.step("Allocator limits measured by dkprobe, and the kernel's symbols")
    res.boot["symbols"] = await _guest_symbols(
        shell, ("alloc_bootmem", "__alloc_bootmem", "memblock_alloc_try_nid"))
    res.boot["largest_kmalloc_cache"] = await _largest_slab_cache(shell)
    lim = res.boot["limits"]
    st.line(f"gfp_max_order {lim['gfp_max_order']}, kmalloc_max {format_size(lim['kmalloc_max'])}"
            f", vmalloc {format_size(lim['vmalloc_max'])} in {lim['vmalloc_runs']} runs, "
            f"dma_coherent_max {format_size(lim['dma_coherent_max'])}")
    for name, rng in (("article 8M", res.boot["article_range"]),
                      ("usable", res.boot["usable_range"])):
        st.line(f"{name:<10} {_hx(rng['start'])}+{_hx(rng['size'])}: ioremap {rng['ioremap']}, "
                f"memremap {rng['memremap']}, request_mem_region {rng['request']}")
    if res.boot["ioremap_error"]:
        st.line(f"dmesg: {res.boot['ioremap_error']}")
    syms = res.boot["symbols"]
    st.line("kallsyms: " + ", ".join(f"{k} {'present' if v else 'absent'}"
                                     for k, v in syms.items()))


async def step_clean(st: _Steps, res: SeedResult, art: GuestArtifacts, usable: tuple[int, int],
                     timeout: float) -> None:
    """7. A second guest with memmap=8M$248M: only the range probes, and devmem without
    iomem=relaxed."""
    st.step(f"What works instead: booting again with {CLEAN_CMDLINE!r}")
    spec = linux_guest_spec(CLEAN_CMDLINE, MACHINE, MEMORY, probes=[ARTICLE_RANGE, usable],
                            probe_params={"tests": "ranges"}, artifacts=art)
    async with Machine(spec) as m:
        shell = GuestShell(m.console, timeout=20.0)
        report = await shell.wait_ready(timeout)
        if report.probe is None or not report.probe.complete:
            raise GuestError("the memmap= guest's dkprobe report is missing or incomplete")
        devmem = await shell.run(f"devmem {_hx(usable[0])} 32")
    res.clean = {
        "cmdline": CLEAN_CMDLINE,
        "iomem": _iomem_window(report, ARTICLE_RANGE[0], sum(ARTICLE_RANGE) - 1),
        "article_range": _range_dict(report, ARTICLE_RANGE),
        "usable_range": _range_dict(report, usable),
        "devmem_ok": devmem.ok,
        "devmem_output": devmem.output.strip(),
    }
    for ln in res.clean["iomem"]:
        st.line(f"/proc/iomem  {ln}")
    cu = res.clean["usable_range"]
    st.line(f"request_mem_region {cu['request']}, ioremap({_hx(cu['size'])}) {cu['ioremap']}; "
            f"devmem without iomem=relaxed: {res.clean['devmem_output']}")


async def run(*, clean_boot: bool = True, say: Say = print,
              boot_timeout: float = 120.0) -> SeedResult:
    """Reproduce the seed article's experiment; print progress through `say`.

    Boots the real guest once (twice with `clean_boot`); raises ArtifactMissing if
    scripts/build-guest has not run, GuestError/MachineTimeout if a guest misbehaves.
    """
    res = SeedResult()
    st = _Steps(say, 7 if clean_boot else 6)
    art = GuestArtifacts.locate()
    model = step_model(st, res, art.initrd.stat().st_size)
    res.timings["model"] = st.elapsed()

    st.step(f"Booting the Linux guest: {MACHINE} {MEMORY} + edu, {CMDLINE!r}")
    spec = linux_guest_spec(CMDLINE, MACHINE, MEMORY, probes=[ARTICLE_RANGE, model.usable],
                            devices=["edu"], artifacts=art)
    async with Machine(spec) as m:
        shell = await step_boot(st, res, m, model, boot_timeout)
        res.timings["boot"] = st.elapsed()
        src, dst, mailbox = await step_pool_and_dma(st, res, m, model.usable)
        with src, dst, mailbox:  # freed on the way out, so no leak warning
            await step_read_back(st, res, m, shell, model, dst, mailbox)
        await step_limits(st, res, shell)
    res.timings["first_guest"] = st.elapsed()

    if clean_boot:
        await step_clean(st, res, art, model.usable, boot_timeout)
        res.timings["second_guest"] = st.elapsed()

    res.table = comparison(res.boot, res.clean)
    say(f"\nThe seed article's table, checked on Linux {res.boot['kernel']} "
        f"(QEMU {MACHINE} {MEMORY}, SeaBIOS, TCG):\n")
    for ln in render_table(res.table):
        say(ln)
    res.timings["total"] = st.elapsed()
    say(f"\ndone in {res.timings['total']:.1f}s")
    return res
