"""Compare the allocator model (driverkit.mem) with a real boot of the Linux guest, row by row.

`compare(plan, report)` is pure: it lines up what `plan()` predicted and what the guest
reported (GuestReport) as driverkit.results Rows (the model's line as `expected`, the
kernel's as `observed`), each marked agree, differ or info. `memcheck(...)` boots the guest
for one configuration, then plans the same configuration with that boot's facts (kernel
position, initrd size, the guest's own kernel config) and compares.

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

The kernel's /proc/iomem is read from the shell once the probes have run, so it shows what
they met: with legacy pmem (memmap=N!A) the guest's init has loaded nd_pmem, whose busy
namespaceN.0 nodes the model adds too (`plan(pmem_driver=True)`).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from ..errors import GuestError, MachineError
from ..mem import Carveout, MemPlan, parse_probes, plan
from ..mem.tree import comparable_lines
from ..results import JsonResult, Row, Verdict, overall, render_table
from ..units import format_size
from .artifacts import GuestArtifacts
from .report import GuestReport, iomem_find, normalize, parse_iomem, strip_timestamps

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

Probe = tuple[int, int]
Progress = Callable[[str], None]


#: How the two sides of a row are named in the table and in JSON: Row.expected is what the
#: model predicts, Row.observed what the kernel reported.
SIDES = ("model", "kernel")


@dataclass
class MemCheck(JsonResult):
    """The side-by-side comparison of one configuration: rows, both sides, the verdict."""

    machine: str
    memory: int
    cmdline: str
    probes: list[Probe]
    plan: MemPlan
    report: GuestReport
    kernel_at: int | None
    initrd_size: int
    rows: list[Row]
    boot_seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        """True when every counted row agrees."""
        return self.verdict is Verdict.AGREE

    @property
    def differences(self) -> list[Row]:
        return [r for r in self.rows if r.verdict is Verdict.DIFFER]

    def section(self, name: str) -> list[Row]:
        return [r for r in self.rows if r.section == name]

    @property
    def verdict(self) -> Verdict:
        """AGREE, or DIFFER if any counted row differs."""
        return overall(r.verdict for r in self.rows)

    @property
    def guest_release(self) -> str | None:
        """`uname -r` of the booted guest (from its boot log)."""
        return guest_release(self.report)

    def suspects(self) -> list[str]:
        """Which part of the model to look at for each kind of difference, once each."""
        out: list[str] = []
        for r in self.differences:
            hint = suspect(r, self.plan)
            if hint not in out:
                out.append(hint)
        return out

    def to_dict(self) -> dict:
        rep = self.report
        kernel = {
            "iomem": [n.to_dict() for n in rep.iomem],
            "memory_total_kb": rep.memory_total_kb,
            "memory_available_kb": rep.memory.available_kb if rep.memory else None,
            "carveouts": [c.to_dict() for c in kernel_carveouts(rep)],
            "limits": rep.probe.limits() if rep.probe else {},
            "probes": [r.to_dict() for r in rep.probe.ranges] if rep.probe else [],
            "kernel_at": self.kernel_at,
        }
        counted = [r for r in self.rows if r.counted]
        return {
            "config": {"machine": self.machine, "memory": self.memory, "cmdline": self.cmdline,
                       "probes": [{"start": s, "size": n} for s, n in self.probes],
                       "initrd_size": self.initrd_size, "kernel_at": self.kernel_at},
            "model": self.plan.to_dict(),
            "kernel": kernel,
            "rows": [r.to_dict(sides=SIDES) for r in self.rows],
            "verdict": self.verdict.value,
            "agree": self.agree,
            "counted_rows": len(counted),
            "differing_rows": len(self.differences),
            "boot_seconds": self.boot_seconds,
            "notes": list(self.notes),
            "guest_release": self.guest_release,
            "suspects": self.suspects(),
        }

    def to_text(self, width: int | None = None) -> str:
        """Side by side: model column, kernel column, verdict; `width` per column (auto)."""
        probes = ", ".join(f"{s:#x}+{n:#x}" for s, n in self.probes) or "none"
        head = (f"memcheck: {self.machine} {format_size(self.memory)}, cmdline "
                f"{self.cmdline!r}, probes {probes}")
        L = [head]
        boot = f"{self.boot_seconds:.1f} s" if self.boot_seconds is not None else "?"
        kat = f"{self.kernel_at:#x}" if self.kernel_at is not None else "unknown"
        L.append(f"  guest kernel {self.guest_release or '?'}; model of "
                 f"{self.plan.kernel.summary()}")
        L.append(f"  guest booted in {boot}; kernel image at {kat} (KASLR, given to the model); "
                 f"initrd {self.initrd_size} bytes")
        titles = {
            "iomem": "/proc/iomem (every line the model predicts: PCI device BARs skipped)",
            "e820": "firmware map (BIOS-e820 lines)",
            "e820-user": "kernel map after mem=/memmap= (user: lines)",
            "zones": "last_pfn and zones",
            "memory": "Memory: X/YK available (Y counted; X depends on the initrd, not modelled)",
            "carveouts": "carve-outs (boot-time reservations the kernel announces)",
            "limits": "allocator limits (vmalloc_max: model estimate, not counted)",
            "probes": "probes (region_intersects, request_mem_region, ioremap, memremap WB)",
        }
        order = list(titles) + sorted({r.section for r in self.rows} - set(titles))
        for sec in order:
            rows = self.section(sec)
            if not rows:
                continue
            cells = [("-" if r.expected is None else r.expected,
                      "-" if r.observed is None else r.observed,
                      r.verdict.shown + (f"  ({r.note})" if r.note else "")) for r in rows]
            L += ["", titles.get(sec, sec)]
            L += render_table((*SIDES, "verdict"), cells, keys=[r.key for r in rows],
                              indent="  ", max_cell=width or 60)
        for n in self.notes:
            L += ["", f"note: {n}"]
        counted = sum(r.counted for r in self.rows)
        if self.agree:
            L += ["", f"verdict: AGREE ({counted} counted rows agree; "
                      f"{len(self.rows) - counted} info rows not counted)"]
        else:
            L += ["", f"verdict: DIFFER ({len(self.differences)} of {counted} counted rows "
                      f"differ)"]
            L += [f"  {r.section}: {r.key}: model {r.expected!r}, kernel {r.observed!r}"
                  for r in self.differences]
            L += ["", "suspect:"] + [f"  {s}" for s in self.suspects()]
        return "\n".join(L) + "\n"


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


def _aligned(section: str, model: Sequence[str], kernel: Sequence[str]) -> list[Row]:
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
    return [_firmware_content_row(r) for r in _aligned("iomem", model, kernel)]


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
    rows = _aligned("e820", [_compact_e820(e.log_line("BIOS-e820")) for e in st.firmware],
                    [_compact_e820(x) for x in _log_lines(report.dmesg, "BIOS-e820")])
    user_model = [_compact_e820(e.log_line("user")) for e in st.user_map or []]
    user_kernel = [_compact_e820(x) for x in _log_lines(report.dmesg, "user")]
    rows += _aligned("e820-user", user_model, user_kernel)
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


def _memory_rows(mp: MemPlan, report: GuestReport) -> list[Row]:
    y = report.memory_total_kb
    got = f"Y = {y}K" if y is not None else None
    want = f"Y = {mp.memory_total_kb}K"
    rows = [Row("memory", "Y", want, got, Verdict.of(want == got),
                "present pages x 4K")]
    x = report.memory.available_kb if report.memory else None
    rows.append(Row("memory", "X", None, f"X = {x}K" if x is not None else None, Verdict.INFO,
                    "available at that point; not modelled"))
    return rows


def _carveout_rows(mp: MemPlan, report: GuestReport) -> list[Row]:
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


def _limit_rows(mp: MemPlan, report: GuestReport) -> list[Row]:
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


def _probe_rows(mp: MemPlan, report: GuestReport) -> list[Row]:
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
            + _memory_rows(mp, report) + _carveout_rows(mp, report) + _limit_rows(mp, report)
            + _probe_rows(mp, report))


# --- configuration and the boot --------------------------------------------------------------


def model_for(machine: str, memory: int | str, cmdline: str, probes: Sequence[Probe],
              artifacts: GuestArtifacts, *, kernel_at: int | None = None,
              strict: bool = True, accel: str = "tcg", pmem_driver: bool = False) -> MemPlan:
    """The plan for the guest as driverkit boots it: -nodefaults, its initrd and config."""
    return plan(machine, memory, cmdline, probes=probes, kernel=str(artifacts.kernel),
                kernel_config=str(artifacts.config), defaults=False, initrd_size=os.path.getsize(artifacts.initrd),
                kernel_at=kernel_at, strict=strict, accel=accel, pmem_driver=pmem_driver)


def pmem_driver_loaded(report: GuestReport) -> bool:
    """The guest's init loaded nd_pmem (it does when legacy pmem exists, before dkprobe)."""
    return "module nd_pmem ok" in report.sections.get("modules", "")


def check_report(machine: str, memory: int | str, cmdline: str, probes: Sequence[Probe],
                 report: GuestReport, artifacts: GuestArtifacts, *,
                 boot_seconds: float | None = None, strict: bool = True,
                 accel: str = "tcg") -> MemCheck:
    """Plan this configuration with the boot's kernel position and compare with its report."""
    kat = kernel_position(report)
    bound = pmem_driver_loaded(report)
    mp = model_for(machine, memory, cmdline, probes, artifacts, kernel_at=kat, strict=strict,
                   accel=accel, pmem_driver=bound)
    notes = []
    if bound:
        notes.append("the guest loaded nd_pmem for its legacy pmem before the probes ran; the "
                     "model binds it too (busy namespaceN.0, write-back PAT)")
    booted = guest_release(report)
    if booted and booted != mp.kernel.release:
        notes.append(f"the guest booted {booted} but the model describes {mp.kernel.release} "
                     f"({mp.kernel.source}): the guest cache changed under the check")
    if kat is None:
        notes.append("the guest's /proc/iomem has no 'Kernel code' line; the model put the "
                     "kernel at CONFIG_PHYSICAL_START")
    rows = compare(mp, report)
    if not artifacts.has_probe:
        why = f"not compared: {artifacts.probe_missing_reason}"
        notes.append(f"this guest has no dkprobe, so probes and allocator limits are shown "
                     f"from the model only ({artifacts.probe_missing_reason}); every other row "
                     f"is compared")
        rows = [dataclasses.replace(r, verdict=Verdict.INFO, note=why)
                if r.section in ("probes", "limits") else r for r in rows]
    return MemCheck(mp.machine, mp.memory, cmdline, list(probes), mp, report, kat,
                    os.path.getsize(artifacts.initrd), rows, boot_seconds, notes)


async def boot_report(machine: str, memory: int | str, cmdline: str, probes: Sequence[Probe],
                      *, timeout: float = 120.0, artifacts: GuestArtifacts | None = None,
                      progress: Progress | None = None,
                      accel: str = "tcg") -> tuple[GuestReport, float, str]:
    """Boot the guest once with this configuration: its parsed report, the boot time and the
    accelerator it ran on ("auto" resolves to "kvm" or "tcg" when QEMU starts)."""
    from ..machine.machine import Machine
    from .linux import linux_guest_spec
    from .shell import GuestShell

    say = progress or (lambda _msg: None)
    spec = linux_guest_spec(cmdline, machine=machine, memory=memory, probes=probes,
                            artifacts=artifacts, accel=accel)
    t0 = time.monotonic()
    say(f"booting the Linux guest: {machine} {memory}, append {spec.append!r}")
    async with Machine(spec) as m:
        say("QEMU up; waiting for the guest's reports on the serial console")
        used = m.spec.accel
        shell = GuestShell(m.console, timeout=min(timeout, 30.0))
        try:
            report = await shell.wait_ready(timeout)
            # read /proc/iomem again: init's copy predates the modules it loads (nd_pmem)
            # before dkprobe, and the probes saw the later state
            now = await shell.read_file("/proc/iomem")
        except MachineError as exc:
            tail = "\n".join(normalize(m.console.text).splitlines()[-15:])
            raise GuestError(f"the guest did not finish booting ({exc}); "
                             f"last console lines:\n{tail}") from exc
    report = dataclasses.replace(
        report, iomem=parse_iomem(now),
        sections={**report.sections, "iomem": now, "iomem-at-boot": report.sections["iomem"]})
    took = time.monotonic() - t0
    say(f"guest reported after {took:.1f} s ({used}); comparing with the model")
    return report, took, used


async def memcheck(machine: str = "pc", memory: int | str = "256M", cmdline: str = "",
                   probes: Iterable[str | tuple[int, int]] = (), *, timeout: float = 120.0,
                   artifacts: GuestArtifacts | None = None, strict: bool = True,
                   progress: Progress | None = None, accel: str = "tcg") -> MemCheck:
    """Boot the guest with this configuration and compare it with the model's plan.

    The configuration is checked by the model before anything boots, so bad input
    (a malformed cmdline, a bad size) raises ConfigError/MemModelError without QEMU.
    Raises ArtifactMissing if scripts/build-guest has not run, GuestError if the guest
    does not report within `timeout` seconds.
    """
    art = artifacts or GuestArtifacts.locate()
    prs = parse_probes(probes)
    model_for(machine, memory, cmdline, prs, art, strict=strict, accel=accel)  # bad input
    booted = prs if art.has_probe else []  # without dkprobe the probes are modelled only
    report, took, used = await boot_report(machine, memory, cmdline, booted, timeout=timeout,
                                           artifacts=art, progress=progress, accel=accel)
    return check_report(machine, memory, cmdline, prs, report, art, boot_seconds=took,
                        strict=strict, accel=used)
