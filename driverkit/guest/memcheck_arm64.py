"""memcheck for the arm64 guest: boot it on virt and compare with `plan_arm64`, row by row.

Counted rows: every /proc/iomem line (System RAM per memblock region, NOMAP "reserved",
Kernel code/data, Crash kernel, each memblock reservation's "reserved" child, the board's
device nodes) except lines that hold only allocations the model sizes approximately (shown,
not counted); the zone spans; Y of Memory:; the carve-outs the kernel announces (cma,
crashkernel, swiotlb); the kernel log lines the model predicts (cma, crashkernel, Reserved
memory pools, OF: reserved mem, Memory limited, NODE_DATA, software IO TLB), each matched
exactly; with dkprobe: gfp/kmalloc/dma limits and every probe gate.

The kernel's init section (between "Kernel code" and "Kernel data") is not in the Image
header; for a build the model does not know it is read from this boot and the note says so.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Iterable, Sequence

from ..mem.arm64 import Arm64Image, Arm64Plan, plan_arm64
from ..mem.dt import DeviceTree, ReservedNode
from ..mem.tree import comparable_lines
from ..results import Row, Verdict
from .artifacts import GuestArtifacts
from .memcheck import MemCheck, Progress, boot_and_report
from .memcheck_rows import (
    aligned_rows,
    carveout_rows,
    limit_rows,
    memory_rows,
    probe_rows,
)
from .report import GuestReport, iomem_find, normalize, strip_timestamps

#: kernel log lines the arm64 model predicts (the rest of the log is not compared)
LOG_PATTERNS = re.compile(
    r"^(cma: |crashkernel |cannot allocate crashkernel|Reserved memory: |OF: reserved mem: |"
    r"Memory limited to |NUMA: NODE_DATA |software IO TLB: mapped )")
__all__ = ["Arm64MemCheck", "ReservedNode", "build_dtb", "compare_arm64", "memcheck_arm64"]
#: the page tables of the kernel's own mapping depend on where (virtual) KASLR put it: a
#: boot can take one or two pages more than the model's count [measured: 3 in ~30 boots]
KASLR_PAGES = 2
KASLR_SLACK = 4 << 20
PAGE = 4096
KASLR_NOTE = ("the boot allocations above the page tables sit lower by the page-table pages "
              "the KASLR-randomised kernel mapping needed in this boot (boot with nokaslr for "
              "an exact count)")
ESTIMATE_NOTE = "holds only boot allocations the model sizes approximately (per-CPU bookkeeping)"


def build_dtb(memory: int | str, nodes: Sequence[ReservedNode]) -> DeviceTree:
    """QEMU's virt device tree for this memory size, with these reserved-memory nodes."""
    from ..machine.dtb import virt_dtb

    tree = DeviceTree.load(virt_dtb(memory))
    for n in nodes:
        tree = n.add_to(tree)
    return tree


def arm64_image(artifacts: GuestArtifacts, report: GuestReport | None = None) -> Arm64Image:
    """The guest's Image; its init section from the boot when the build is not known."""
    img = Arm64Image.read(artifacts.kernel)
    if report is not None:
        code, data = iomem_find(report.iomem, "Kernel code"), iomem_find(report.iomem,
                                                                         "Kernel data")
        if code and data and img.init_section is None:
            text = code[0].start - img.stext
            img = img.with_init_section(code[0].end + 1 - text, data[0].start - text)
    return img


def model_for_arm64(memory: int | str, cmdline: str, probes: Sequence[tuple[int, int]],
                    artifacts: GuestArtifacts, dtb: DeviceTree, *, dtb_is_file: bool,
                    image: Arm64Image | None = None, strict: bool = True) -> Arm64Plan:
    img = image or arm64_image(artifacts)
    if img.init_section is None:  # only to check the input before booting
        img = img.with_init_section(img.initdata_begin, img.initdata_begin + 4096)
    return plan_arm64(memory, cmdline, probes, kernel=img, kernel_config=artifacts.config,
                      dtb=dtb, dtb_is_file=dtb_is_file,
                      initrd_size=os.path.getsize(artifacts.initrd), strict=strict)


def _iomem_rows(mp: Arm64Plan, report: GuestReport) -> list[Row]:
    model = comparable_lines(mp.iomem_text(), kernel=True, devices=True)
    kernel = comparable_lines(normalize(report.sections.get("iomem", "")), kernel=True,
                              devices=True)
    est = mp.estimated_ranges()
    solid = [(s, n) for _, s, n in mp.state.boot_allocations if n and
             not any(a <= s < b for a, b in est)]
    pts = [s for name, s, _n in mp.state.boot_allocations if name == "page tables"]
    cluster = (min(pts) - KASLR_SLACK, max(pts) + PAGE) if pts and mp.kaslr else None
    rows = []
    for r in aligned_rows("iomem", model, kernel):
        m = _RESERVED.match(r.expected or r.observed or "")
        if r.verdict is Verdict.DIFFER and m:
            a, b = int(m.group(1), 16), int(m.group(2), 16) + 1
            only_estimates = any(x <= a < y for x, y in est) and not any(
                a <= s < b for s, n in solid)
            if only_estimates:
                r = dataclasses.replace(r, verdict=Verdict.INFO, note=ESTIMATE_NOTE)
            elif cluster and cluster[0] <= a < cluster[1] and _shifted(r):
                r = dataclasses.replace(r, verdict=Verdict.INFO, note=KASLR_NOTE)
        rows.append(r)
    return rows


_RESERVED = re.compile(r"^\s*([0-9a-f]+)-([0-9a-f]+) : reserved$")


def _shifted(r: Row) -> bool:
    """The kernel's line is the model's moved down by one to KASLR_PAGES pages."""
    m, k = _RESERVED.match(r.expected or ""), _RESERVED.match(r.observed or "")
    if not m or not k:
        return False
    ds = int(m.group(1), 16) - int(k.group(1), 16)
    de = int(m.group(2), 16) - int(k.group(2), 16)
    steps = {i * PAGE for i in range(KASLR_PAGES + 1)}
    return ds in steps and de in steps and bool(ds or de)


def _zone_rows(mp: Arm64Plan, report: GuestReport) -> list[Row]:
    text = strip_timestamps(normalize(report.dmesg))
    found = dict(re.findall(r"^\s+(DMA|DMA32|Normal)\s+(empty|\[mem 0x[0-9a-f]+-0x[0-9a-f]+\])$",
                            text, re.M)[:3])
    rows = []
    for z in mp.state.zones:
        want = "empty" if z.empty else f"[mem {z.start:#018x}-{z.end - 1:#018x}]"
        got = found.get(z.name)
        rows.append(Row("zones", z.name, f"{z.name} {want}",
                        None if got is None else f"{z.name} {got}", Verdict.of(want == got)))
    return rows


def _log_rows(mp: Arm64Plan, report: GuestReport) -> list[Row]:
    seen: list[str] = []
    for ln in strip_timestamps(normalize(report.dmesg)).splitlines():
        ln = ln.strip()
        if LOG_PATTERNS.match(ln) and ln not in seen:
            seen.append(ln)
    model = list(dict.fromkeys(ln for ln in mp.state.log if LOG_PATTERNS.match(ln)))
    rows = aligned_rows("log", model, seen)
    if not mp.kaslr:
        return rows
    out = []
    for r in rows:  # NODE_DATA is allocated right below the page tables
        m, k = (_NODE_DATA.match(x or "") for x in (r.expected, r.observed))
        if r.verdict is Verdict.DIFFER and m and k:
            ds = int(m.group(1), 16) - int(k.group(1), 16)
            if ds in {i * PAGE for i in range(1, KASLR_PAGES + 1)} and \
                    int(m.group(2), 16) - int(k.group(2), 16) == ds:
                r = dataclasses.replace(r, verdict=Verdict.INFO, note=KASLR_NOTE)
        out.append(r)
    return out


_NODE_DATA = re.compile(r"^NUMA: NODE_DATA \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\]$")


def compare_arm64(mp: Arm64Plan, report: GuestReport) -> list[Row]:
    """Every row of the arm64 comparison (pure: no QEMU)."""
    return (_iomem_rows(mp, report) + _zone_rows(mp, report) + memory_rows(mp, report)
            + carveout_rows(mp, report) + _log_rows(mp, report)
            + (limit_rows(mp, report) + probe_rows(mp, report) if report.probe else []))


class Arm64MemCheck(MemCheck):
    """MemCheck of an arm64 boot (the suspects name the arm64 model's parts)."""

    def suspects(self) -> list[str]:
        hints = {
            "iomem": "the boot order and sizes in driverkit/mem/arm64/boot.py (page tables, "
                     "memmap, hashes, CMA) or the board nodes (arm64/virt.py)",
            "zones": "zone limits (arm64/boot.py _max_zone_phys)",
            "memory": "memblock memory after mem= (arm64/boot.py)",
            "carveouts": "CMA/crashkernel placement (arm64/boot.py _cma, _crashkernel)",
            "log": "the kernel messages arm64/boot.py predicts",
            "limits": "driverkit/mem/limits.py with CMA",
            "probes": "the arm64 gates (arm64/plan.py probe_arm64)",
        }
        out: list[str] = []
        for r in self.differences:
            h = hints.get(r.section, r.section)
            if h not in out:
                out.append(h)
        return out


async def boot_report_arm64(memory: int | str, cmdline: str, probes: Sequence[tuple[int, int]],
                            *, dtb_path: str | None, artifacts: GuestArtifacts,
                            timeout: float = 120.0,
                            progress: Progress | None = None) -> tuple[GuestReport, float]:
    """Boot the arm64 guest once: its parsed report (iomem read after the probes) and time."""
    from .linux import linux_guest_spec

    say = progress or (lambda _msg: None)
    spec = linux_guest_spec(cmdline, arch="aarch64", memory=memory, probes=probes,
                            artifacts=artifacts, dtb=dtb_path)
    t0 = time.monotonic()
    say(f"booting the arm64 guest: virt {memory}, append {spec.append!r}"
        + (f", -dtb {dtb_path}" if dtb_path else ""))
    report, _ = await boot_and_report(spec, timeout=timeout, say=say, what="arm64 guest")
    took = time.monotonic() - t0
    say(f"guest reported after {took:.1f} s; comparing with the model")
    return report, took


def check_report_arm64(memory: int | str, cmdline: str, probes: Sequence[tuple[int, int]],
                       report: GuestReport, artifacts: GuestArtifacts, dtb: DeviceTree, *,
                       dtb_is_file: bool, append: str, boot_seconds: float | None = None,
                       strict: bool = True) -> Arm64MemCheck:
    """Plan with the boot's facts (init section if unknown) and compare with its report."""
    img = arm64_image(artifacts, report)
    mp = model_for_arm64(memory, append, probes, artifacts, dtb, dtb_is_file=dtb_is_file,
                         image=img, strict=strict)
    notes = []
    if Arm64Image.read(artifacts.kernel).init_section is None:
        notes.append(f"{img.release}: the init section (Kernel code end, Kernel data start) "
                     f"is not in the Image header; taken from this boot's /proc/iomem")
    if not artifacts.has_probe:
        notes.append(f"no dkprobe in this guest ({artifacts.probe_missing_reason}): the "
                     f"allocator limits and the ioremap/memremap/request_mem_region probes "
                     f"are left out")
    code = iomem_find(report.iomem, "Kernel code")
    return Arm64MemCheck("virt", mp.memory, cmdline, list(probes), mp,  # type: ignore[arg-type]
                         report, code[0].start if code else None,
                         os.path.getsize(artifacts.initrd), compare_arm64(mp, report),
                         boot_seconds, notes)


async def memcheck_arm64(memory: int | str = "256M", cmdline: str = "",
                         probes: Iterable[str | tuple[int, int]] = (), *,
                         reserved: Sequence[ReservedNode] = (), timeout: float = 120.0,
                         artifacts: GuestArtifacts | None = None, strict: bool = True,
                         progress: Progress | None = None) -> Arm64MemCheck:
    """Boot the arm64 guest (with `reserved` nodes added to QEMU's DTB) and compare.

    The configuration is planned before anything boots: memmap=, a reserved-memory node
    outside RAM or over the kernel, a probe outside RAM raise before QEMU starts.
    """
    from ..mem import parse_probes
    from .linux import linux_guest_spec

    art = artifacts or GuestArtifacts.locate(arch="aarch64")
    prs = parse_probes(probes)
    tree = build_dtb(memory, reserved)
    spec_append = linux_guest_spec(cmdline, arch="aarch64", memory=memory, probes=prs,
                                   artifacts=art).append
    model_for_arm64(memory, spec_append, prs, art, tree, dtb_is_file=bool(reserved),
                    strict=strict)  # bad input, before any boot
    with tempfile.TemporaryDirectory(prefix="driverkit-memcheck-") as tmp:
        path = None
        if reserved:
            path = str(Path(tmp) / "virt-reserved.dtb")
            tree.write(path)
        report, took = await boot_report_arm64(memory, cmdline, prs, dtb_path=path,
                                               artifacts=art, timeout=timeout,
                                               progress=progress)
    return check_report_arm64(memory, cmdline, prs, report, art, tree,
                              dtb_is_file=bool(reserved), append=spec_append,
                              boot_seconds=took, strict=strict)
