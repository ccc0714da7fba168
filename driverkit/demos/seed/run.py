"""The seed experiment's steps, each printing numbered progress and filling a SeedResult."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from ...drivers.registry import load as load_driver
from ...errors import GuestError
from ...guest import GuestArtifacts, GuestShell, linux_guest_spec
from ...guest.inspect import devmem_read, devmem_write, kernel_symbols, largest_kmalloc_cache
from ...guest.report import GuestReport, RangeProbe, iomem_find, iomem_overlapping, ioremap_error
from ...io.dma import DmaBuffer
from ...machine.machine import Machine
from ...mem import mem_window, plan
from ...units import format_size
from .facts import (
    ARTICLE_RANGE,
    CLEAN_CMDLINE,
    CMDLINE,
    DEVMEM_BYTES,
    GUEST_MAGIC,
    MACHINE,
    MEMORY,
    PAYLOAD_SIZE,
    BootFacts,
    CleanBootFacts,
    DmaFacts,
    Limits,
    ModelFacts,
    PoolFacts,
    ReadBack,
    SeedResult,
)
from .table import comparison, table_lines

Say = Callable[[str], None]


class Steps:
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


def _model_sections(text: str, headings: tuple[str, ...]) -> list[str]:
    """The blocks of MemPlan.to_text() whose heading starts with one of `headings`."""
    out: list[str] = []
    for block in text.strip().split("\n\n"):
        if block.startswith(headings):
            out += block.splitlines() + [""]
    return out[:-1]


def _payload(n: int) -> bytes:
    text = b"seed article: mem=248M, top of RAM as a DMA pool, edu copied this. "
    return (text * (n // len(text) + 1))[:n]


def _window(report: GuestReport) -> list[str]:
    """The top-level /proc/iomem lines over the article's range."""
    return [n.line() for n in iomem_overlapping(report.iomem, ARTICLE_RANGE[0],
                                                sum(ARTICLE_RANGE) - 1)]


def _usable(res: SeedResult) -> tuple[int, int]:
    return res.carveout.start, res.carveout.size


# --- 1. the model -------------------------------------------------------------------------


def step_model(st: Steps, initrd_size: int) -> SeedResult:
    """1. The model's map for the article's configuration, and the carve-out taken from it."""
    st.step(f"Allocator model: QEMU {MACHINE} {MEMORY}, SeaBIOS, -nodefaults, {CMDLINE!r}")
    carve = mem_window(plan(MACHINE, MEMORY, CMDLINE, defaults=False, initrd_size=initrd_size))
    usable = (carve.start, carve.size)
    model = plan(MACHINE, MEMORY, CMDLINE, probes=[ARTICLE_RANGE, usable], defaults=False,
                 initrd_size=initrd_size)
    strict = plan(MACHINE, MEMORY, CMDLINE.replace(" iomem=relaxed", ""), probes=[usable],
                  defaults=False, initrd_size=initrd_size)
    for ln in _model_sections(model.to_text(), ("Firmware map", "Kernel map", "Carve-outs",
                                                  "Probes")):
        st.line(ln)
    st.line(f"=> carve-out {carve.start:#x}-{carve.start + carve.size - 1:#x} "
            f"({format_size(carve.size)}): the mem= window up to the firmware's ACPI tables")
    return SeedResult(carve, ModelFacts(model, strict.probes[0].devmem_mmap))


# --- 2. the first guest --------------------------------------------------------------------


async def step_boot(st: Steps, res: SeedResult, m: Machine,
                    timeout: float) -> tuple[GuestShell, BootFacts]:
    """2. Wait for the guest's reports; compare them with the model; keep dkprobe's figures."""
    shell = GuestShell(m.console, timeout=20.0)
    report = await shell.wait_ready(timeout)
    probe = report.probe
    if probe is None or not probe.complete or probe.errors:
        raise GuestError(f"dkprobe did not report cleanly: {probe and probe.errors}")
    kernel = probe.info.get("release", "?")
    model = res.model.plan
    st.line(f"kernel {kernel} up in {report.uptime:.1f}s guest time; "
            f"{report.memory_total_kb}K present (model: {model.memory_total_kb}K)")
    window = _window(report)
    for ln in window:
        st.line(f"/proc/iomem  {ln}")
    res.model.dmesg_diff = model.diff_dmesg(report.dmesg)
    res.model.iomem_diff = model.diff_iomem(report.sections["iomem"])
    dd, idiff = res.model.dmesg_diff, res.model.iomem_diff
    st.line(f"model vs guest: boot log {'agrees' if not dd else dd}; "
            f"/proc/iomem {'agrees' if not idiff else f'{len(idiff)} diff lines'}")
    buffers = iomem_find(report.iomem, "RAM buffer")
    lim = probe.limits()
    try:
        limits = Limits(lim["gfp_max_order"], lim["kmalloc_max"], lim["vmalloc_max"],
                        probe.vmalloc_runs or 0, lim["dma_coherent_max"])
    except KeyError as exc:
        raise GuestError(f"dkprobe reported no {exc.args[0]}: {lim}") from None
    boot = BootFacts(
        cmdline=CMDLINE, kernel=kernel, uptime=report.uptime,
        memory_total_kb=report.memory_total_kb, iomem=window,
        window_resource=buffers[0].name if buffers else None,
        ram_buffers=[(b.start, b.end) for b in buffers], limits=limits,
        article_range=probe.range(*ARTICLE_RANGE), usable_range=probe.range(*_usable(res)),
        ioremap_error=ioremap_error(report.sections.get("probe-log", "")))
    return shell, boot


# --- 3-5. the pool, the DMA, the read-back ---------------------------------------------------


async def step_pool_and_dma(st: Steps, res: SeedResult,
                            m: Machine) -> tuple[DmaBuffer, DmaBuffer, DmaBuffer]:
    """3-4. The carve-out as a DMA pool; edu copies a payload RAM -> device -> RAM through it.
    Returns the (src, dst, from-guest) buffers, still allocated (freed here on an error)."""
    st.step("The carve-out becomes a DMA pool (m.dma.use_region)")
    start, size = _usable(res)
    m.dma.use_region(start, size)
    with contextlib.ExitStack() as allocated:
        src = allocated.enter_context(m.dma.alloc(PAYLOAD_SIZE, name="src"))
        dst = allocated.enter_context(m.dma.alloc(PAYLOAD_SIZE, name="dst"))
        mailbox = allocated.enter_context(m.dma.alloc(64, name="from-guest"))
        stats = m.dma.stats()
        st.line(f"pool {start:#x}+{size:#x}; buffers src {src.phys:#x}, dst {dst.phys:#x}, "
                f"from-guest {mailbox.phys:#x}; {stats.free if stats else '?'} bytes free")
        res.pool = PoolFacts(start, size, {b.name: (b.phys, b.size) for b in m.dma.buffers})

        edu = await load_driver("edu").probe(m)
        st.step(f"edu ({edu.pci.address}, id {edu.regs.id.read():#x}) DMAs "
                f"RAM -> device -> RAM through the pool")
        payload = _payload(PAYLOAD_SIZE)
        src.write(payload)
        t = time.monotonic()
        await edu.dma_to_device(src)
        await edu.dma_from_device(dst)
        ms = (time.monotonic() - t) * 1000
        ok = dst.read() == payload
        st.line(f"{PAYLOAD_SIZE} bytes {src.phys:#x} -> edu buffer -> {dst.phys:#x} in "
                f"{ms:.0f} ms (edu's DMA timer is 100 ms): "
                f"{'identical' if ok else 'DIFFERENT'}")
        res.dma = DmaFacts(src.phys, dst.phys, PAYLOAD_SIZE, ok, round(ms, 1))
        allocated.pop_all()  # the caller frees them after the read-back
    return src, dst, mailbox


async def step_read_back(st: Steps, res: SeedResult, m: Machine, shell: GuestShell,
                         dst: DmaBuffer, mailbox: DmaBuffer) -> None:
    """5. The DMA'd bytes through the host's ioremap and the guest's devmem; and back."""
    st.step("Reading it back: host m.ioremap, guest busybox devmem")
    start, size = _usable(res)
    payload = _payload(PAYLOAD_SIZE)
    io = m.ioremap(start, size, name="seed carve-out")
    try:
        host = io.read(dst.phys - start, PAYLOAD_SIZE)
        guest = await devmem_read(shell, dst.phys, DEVMEM_BYTES)
        await devmem_write(shell, mailbox.phys, GUEST_MAGIC)
        from_guest = io.readl(mailbox.phys - start)
    finally:
        m.iounmap(io)
    st.line(f"host  ioremap({start:#x}, {size:#x}) +{dst.phys - start:#x}: "
            f"{host[:24]!r}... {'matches' if host == payload else 'DIFFERS'}")
    st.line(f"guest devmem {dst.phys:#x}.. ({DEVMEM_BYTES} bytes): {guest[:24]!r}... "
            f"{'matches' if guest == payload[:DEVMEM_BYTES] else 'DIFFERS'}")
    st.line(f"guest wrote {GUEST_MAGIC:#x} at {mailbox.phys:#x} with devmem; host readl: "
            f"{from_guest:#x}")
    relaxed = res.model.devmem_without_relaxed
    st.line("devmem works because of iomem=relaxed: the window is a busy 'RAM buffer' and the "
            f"kernel has IO_STRICT_DEVMEM (model without it: {relaxed})")
    res.readback = ReadBack(host == payload, guest == payload[:DEVMEM_BYTES], DEVMEM_BYTES,
                            GUEST_MAGIC, from_guest, relaxed)


# --- 6. limits, 7. the clean carve-out ------------------------------------------------------


def _range_line(name: str, r: RangeProbe) -> str:
    return (f"{name:<10} {r.start:#x}+{r.size:#x}: ioremap {r.ioremap}, memremap {r.memremap}, "
            f"request_mem_region {r.request}")


async def step_limits(st: Steps, boot: BootFacts, shell: GuestShell) -> None:
    """6. What dkprobe measured at boot, plus the kernel's symbols and slab caches."""
    st.step("Allocator limits measured by dkprobe, and the kernel's symbols")
    boot.symbols = await kernel_symbols(
        shell, ("alloc_bootmem", "__alloc_bootmem", "memblock_alloc_try_nid"))
    boot.largest_kmalloc_cache = await largest_kmalloc_cache(shell)
    lim = boot.limits
    st.line(f"gfp_max_order {lim.gfp_max_order}, kmalloc_max {format_size(lim.kmalloc_max)}"
            f", vmalloc {format_size(lim.vmalloc_max)} in {lim.vmalloc_runs} runs, "
            f"dma_coherent_max {format_size(lim.dma_coherent_max)}")
    st.line(_range_line("article 8M", boot.article_range))
    st.line(_range_line("usable", boot.usable_range))
    if boot.ioremap_error:
        st.line(f"dmesg: {boot.ioremap_error}")
    st.line("kallsyms: " + ", ".join(f"{k} {'present' if v else 'absent'}"
                                     for k, v in boot.symbols.items()))


async def step_clean(st: Steps, res: SeedResult, art: GuestArtifacts, timeout: float) -> None:
    """7. A second guest with memmap=8M$248M: only the range probes, and devmem without
    iomem=relaxed."""
    st.step(f"What works instead: booting again with {CLEAN_CMDLINE!r}")
    usable = _usable(res)
    spec = linux_guest_spec(CLEAN_CMDLINE, MACHINE, MEMORY, probes=[ARTICLE_RANGE, usable],
                            probe_params={"tests": "ranges"}, artifacts=art)
    async with Machine(spec) as m:
        shell = GuestShell(m.console, timeout=20.0)
        report = await shell.wait_ready(timeout)
        if report.probe is None or not report.probe.complete:
            raise GuestError("the memmap= guest's dkprobe report is missing or incomplete")
        devmem = await shell.run(f"devmem {usable[0]:#x} 32")
    res.clean = clean = CleanBootFacts(
        CLEAN_CMDLINE, _window(report), report.probe.range(*ARTICLE_RANGE),
        report.probe.range(*usable), devmem.ok, devmem.output.strip())
    for ln in clean.iomem:
        st.line(f"/proc/iomem  {ln}")
    cu = clean.usable_range
    st.line(f"request_mem_region {cu.request}, ioremap({cu.size:#x}) {cu.ioremap}; "
            f"devmem without iomem=relaxed: {clean.devmem_output}")


async def run(*, clean_boot: bool = True, say: Say = print,
              boot_timeout: float = 120.0, arm64: bool = True) -> SeedResult:
    """Reproduce the seed article's experiment; print progress through `say`.

    Boots the real guest once (twice with `clean_boot`), then with `arm64` the arm64 chapter
    (demos/seed/arm64.py: a /reserved-memory carve-out); raises ArtifactMissing if
    scripts/build-guest has not run, GuestError/MachineTimeout if a guest misbehaves.
    """
    st = Steps(say, 7 if clean_boot else 6)
    art = GuestArtifacts.locate()
    res = step_model(st, art.initrd.stat().st_size)
    res.timings["model"] = st.elapsed()

    st.step(f"Booting the Linux guest: {MACHINE} {MEMORY} + edu, {CMDLINE!r}")
    spec = linux_guest_spec(CMDLINE, MACHINE, MEMORY, probes=[ARTICLE_RANGE, _usable(res)],
                            devices=["edu"], artifacts=art)
    async with Machine(spec) as m:
        shell, boot = await step_boot(st, res, m, boot_timeout)
        res.boot = boot
        res.timings["boot"] = st.elapsed()
        src, dst, mailbox = await step_pool_and_dma(st, res, m)
        with src, dst, mailbox:  # freed on the way out, so no leak warning
            await step_read_back(st, res, m, shell, dst, mailbox)
        await step_limits(st, boot, shell)
    res.timings["first_guest"] = st.elapsed()

    if clean_boot:
        await step_clean(st, res, art, boot_timeout)
        res.timings["second_guest"] = st.elapsed()

    res.table = comparison(boot, res.clean)
    say(f"\nThe seed article's table, checked on Linux {boot.kernel} "
        f"(QEMU {MACHINE} {MEMORY}, SeaBIOS, TCG):\n")
    for ln in table_lines(res.table):
        say(ln)
    if arm64:
        from .arm64 import run_arm64

        say("\nThe arm64 chapter: reserve at boot with a /reserved-memory node, map it later")
        res.arm64 = await run_arm64(say, boot_timeout=boot_timeout)
        res.timings["arm64"] = st.elapsed()
    res.timings["total"] = st.elapsed()
    say(f"\ndone in {res.timings['total']:.1f}s")
    return res
