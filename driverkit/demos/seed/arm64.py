"""The seed demo's arm64 chapter: "reserve at boot, map it later" the arm64 way.

arm64 has no memmap=, and mem= only cuts an amount; the carve-out a board gives a driver is a
/reserved-memory node with `no-map` in the device tree. So: dump the device tree QEMU
generates for virt, add /reserved-memory/dkcarve@ADDR (8 MiB, no-map, 32 MiB below the top
of RAM), let the model say where it lands and what the gates do, boot the arm64 guest with
`-dtb`, then use the region from both sides: the host makes it a DMA pool
(`m.dma.use_region`) and writes a buffer, the guest reads it with busybox devmem (no
iomem=relaxed needed: a no-map region is not System RAM and not busy), the guest writes a
word, the host reads it through `m.ioremap`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ...errors import GuestError
from ...guest import GuestArtifacts, GuestShell, linux_guest_spec
from ...guest.inspect import devmem_read, devmem_write
from ...guest.memcheck_arm64 import build_dtb, compare_arm64, model_for_arm64
from ...guest.report import iomem_overlapping
from ...machine.machine import Machine
from ...mem.dt import ReservedNode
from ...results import Row, Verdict, render_table
from ...units import format_size, parse_size
from .facts import GUEST_MAGIC

MEMORY = "256M"
CARVE_SIZE = 8 << 20
CARVE_BELOW_TOP = 32 << 20  # clear of the boot allocations QEMU's loader and memblock make
DEVMEM_BYTES = 64
Say = Callable[[str], None]


def _payload(n: int) -> bytes:
    text = b"arm64: /reserved-memory no-map, written by the host, read by devmem. "
    return (text * (n // len(text) + 1))[:n]


@dataclass
class Arm64Facts:
    """What the chapter measured (and what the model said before the boot)."""

    node: str
    start: int
    size: int
    model_iomem: list[str]
    kernel_iomem: list[str]
    model_gates: dict[str, str]
    kernel_gates: dict[str, str]
    memcheck_rows: int = 0
    memcheck_differ: list[str] = field(default_factory=list)
    host_wrote: int = 0
    guest_read_ok: bool = False
    guest_wrote: int = GUEST_MAGIC
    host_read: int = 0
    boot_seconds: float = 0.0
    rows: list[Row] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.verdict == Verdict.AGREE for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "start": self.start, "size": self.size,
                "model_iomem": self.model_iomem, "kernel_iomem": self.kernel_iomem,
                "model_gates": self.model_gates, "kernel_gates": self.kernel_gates,
                "memcheck_rows": self.memcheck_rows, "memcheck_differ": self.memcheck_differ,
                "host_wrote": self.host_wrote, "guest_read_ok": self.guest_read_ok,
                "guest_wrote": self.guest_wrote, "host_read": self.host_read,
                "boot_seconds": self.boot_seconds, "ok": self.ok,
                "rows": [r.to_dict(sides=("model", "measured")) for r in self.rows]}


def carve_out(memory: int | str = MEMORY) -> ReservedNode:
    """The chapter's node: 8 MiB, no-map, 32 MiB below the top of virt's RAM (at 1 GiB)."""
    top = 0x40000000 + parse_size(memory, "memory")
    start = top - CARVE_BELOW_TOP
    return ReservedNode(f"dkcarve@{start:x}", CARVE_SIZE, start, no_map=True)


async def run_arm64(say: Say = print, *, boot_timeout: float = 120.0,
                    artifacts: GuestArtifacts | None = None) -> Arm64Facts:
    """Model, boot with -dtb, and the round trip host -> guest -> host through the carve-out.

    Raises ArtifactMissing if the arm64 guest is not built, GuestError if it misbehaves.
    """
    import time

    art = artifacts or GuestArtifacts.locate(arch="aarch64")
    node = carve_out()
    start, size = node.start or 0, node.size
    probes = [(start, 0x1000), (start + size - 0x1000, 0x1000)] if art.has_probe else []
    say(f"\n[arm64 1/3] Model: QEMU virt {MEMORY}, its device tree + /reserved-memory/"
        f"{node.name} ({format_size(size)}, no-map)")
    tree = build_dtb(MEMORY, [node])
    spec = linux_guest_spec("", arch="aarch64", memory=MEMORY, probes=probes, artifacts=art)
    model = model_for_arm64(MEMORY, spec.append, probes, art, tree, dtb_is_file=True)
    window = [ln for ln in model.iomem_text().splitlines()
              if not ln.startswith(" ") and _overlaps(ln, start, start + size - 1)]
    for ln in window:
        say(f"    model /proc/iomem  {ln}")
    mg = model.probes[0].to_dict() if model.probes else {}
    if mg:
        say(f"    model gates: ioremap {mg['ioremap']}, memremap {mg['memremap']}, "
            f"request_mem_region {mg['request_mem_region']}, /dev/mem {mg['devmem_mmap']}")

    say(f"[arm64 2/3] Booting the arm64 guest with -dtb (virt, cortex-a57, TCG, {MEMORY})")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="driverkit-seed-arm64-") as tmp:
        dtb = Path(tmp) / "virt-carve.dtb"
        tree.write(dtb)
        spec = linux_guest_spec("", arch="aarch64", memory=MEMORY, probes=probes,
                                artifacts=art, dtb=dtb)
        async with Machine(spec) as m:
            shell = GuestShell(m.console, timeout=20.0)
            report = await shell.wait_ready(boot_timeout)
            took = time.monotonic() - t0
            kernel_window = [n.line() for n in iomem_overlapping(report.iomem, start,
                                                                  start + size - 1)]
            for ln in kernel_window:
                say(f"    guest /proc/iomem  {ln}")
            check = compare_arm64(model_for_arm64(MEMORY, spec.append, probes, art, tree,
                                                  dtb_is_file=True), report)
            differ = [f"{r.section}: {r.key}" for r in check if r.verdict is Verdict.DIFFER]
            counted = sum(r.counted for r in check)
            say(f"    memcheck: {counted - len(differ)} of {counted} counted rows agree"
                + (f"; differ: {differ}" if differ else ""))
            kg: dict[str, str] = {}
            if art.has_probe and report.probe is not None:
                r0 = report.probe.range(start, 0x1000)
                kg = {"ioremap": r0.ioremap, "memremap": r0.memremap,
                      "request_mem_region": "ok" if r0.request == "ok" else "fail",
                      "rw": r0.rw}

            say("[arm64 3/3] Map it later: the host's DMA pool writes, the guest's devmem "
                "reads, and back")
            m.dma.use_region(start, size)
            payload = _payload(DEVMEM_BYTES)
            with m.dma.alloc(DEVMEM_BYTES, name="to-guest") as buf, \
                    m.dma.alloc(64, name="from-guest") as mailbox:
                buf.write(payload)
                seen = await devmem_read(shell, buf.phys, DEVMEM_BYTES)
                await devmem_write(shell, mailbox.phys, GUEST_MAGIC)
                io = m.ioremap(start, size, name="arm64 carve-out")
                try:
                    host_read = io.readl(mailbox.phys - start)
                finally:
                    m.iounmap(io)
                say(f"    host wrote {DEVMEM_BYTES} bytes at {buf.phys:#x}; guest devmem read "
                    f"{seen[:24]!r}... {'matches' if seen == payload else 'DIFFERS'}")
                say(f"    guest devmem wrote {GUEST_MAGIC:#x} at {mailbox.phys:#x}; host "
                    f"ioremap readl: {host_read:#x}")
    facts = Arm64Facts(node.name, start, size, window, kernel_window,
                       {k: str(v) for k, v in mg.items() if k in
                        ("ioremap", "memremap", "request_mem_region", "devmem_mmap")},
                       kg, counted, differ, DEVMEM_BYTES, seen == payload, GUEST_MAGIC,
                       host_read, round(took, 1))
    facts.rows = _rows(facts)
    if not art.has_probe:
        say(f"    (no dkprobe in this guest: {art.probe_missing_reason}; the gates are not "
            f"measured)")
    for ln in render_table(("claim", "model", "measured", "verdict"),
                           [(r.key, r.expected or "-", r.observed or "-", r.verdict.value)
                            for r in facts.rows], indent="    "):
        say(ln)
    if not facts.ok:
        raise GuestError("the arm64 carve-out round trip failed: "
                         + "; ".join(f"{r.key}: {r.observed}" for r in facts.rows
                                     if r.verdict != Verdict.AGREE))
    return facts


def _overlaps(line: str, start: int, end: int) -> bool:
    a, _, rest = line.strip().partition("-")
    b = rest.split(" ", 1)[0]
    return int(a, 16) <= end and start <= int(b, 16)


def _rows(f: Arm64Facts) -> list[Row]:
    def row(key: str, want: str, got: str) -> Row:
        return Row("arm64", key, want, got, Verdict.AGREE if want == got else Verdict.DIFFER)

    out = [row("where the carve-out lands (/proc/iomem)", "; ".join(f.model_iomem),
               "; ".join(f.kernel_iomem)),
           row("the whole boot vs the model (memcheck)", "all counted rows agree",
               "all counted rows agree" if not f.memcheck_differ else
               f"{len(f.memcheck_differ)} differ")]
    for gate in ("ioremap", "memremap", "request_mem_region"):
        if gate in f.kernel_gates:
            out.append(row(f"{gate} of the carve-out in the guest", f.model_gates.get(gate, "?"),
                           f.kernel_gates[gate]))
    out += [row("host writes (DMA pool), guest reads (devmem)", "same bytes",
                "same bytes" if f.guest_read_ok else "different bytes"),
            row("guest writes (devmem), host reads (ioremap)", f"{f.guest_wrote:#x}",
                f"{f.host_read:#x}")]
    return out
