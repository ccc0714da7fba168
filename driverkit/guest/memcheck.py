"""Compare the allocator model (driverkit.mem) with a real boot of the Linux guest, row by row.

`compare(plan, report)` (memcheck_rows.py, where the rows and which of them count are
described) is pure: it lines up what `plan()` predicted and what the guest reported
(GuestReport) as driverkit.results Rows (the model's line as `expected`, the kernel's as
`observed`), each marked agree, differ or info. `memcheck(...)` boots the guest for one
configuration, then plans the same configuration with that boot's facts (kernel position,
initrd size, the guest's own kernel config) and compares; `MemCheck` holds the result.

The kernel's /proc/iomem is read from the shell once the probes have run, so it shows what
they met: with legacy pmem (memmap=N!A) the guest's init has loaded nd_pmem, whose busy
namespaceN.0 nodes the model adds too (`plan(pmem_driver=True)`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from ..errors import GuestError, MachineError
from ..mem import MemPlan, parse_probes, plan
from ..results import JsonResult, Row, Verdict, overall, render_table
from ..units import format_size
from .artifacts import GuestArtifacts
from .memcheck_rows import compare, guest_release, kernel_carveouts, kernel_position, suspect
from .report import GuestReport, normalize, parse_iomem

if TYPE_CHECKING:
    from ..machine.spec import MachineSpec

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


async def boot_and_report(spec: MachineSpec, *, timeout: float, say: Progress,
                          what: str = "guest") -> tuple[GuestReport, str]:
    """Boot `spec` once: the guest's parsed report and the accelerator QEMU ran on.

    /proc/iomem is read again once the reports are done: init's copy (kept as section
    "iomem-at-boot") predates the modules it loads before dkprobe (nd_pmem), and the probes
    saw the later tree. GuestError with the last console lines if the guest does not get there.
    """
    from ..machine.machine import Machine
    from .shell import GuestShell

    async with Machine(spec) as m:
        say("QEMU up; waiting for the guest's reports on the serial console")
        used = m.spec.accel
        shell = GuestShell(m.console, timeout=min(timeout, 30.0))
        try:
            report = await shell.wait_ready(timeout)
            now = await shell.read_file("/proc/iomem")
        except MachineError as exc:
            tail = "\n".join(normalize(m.console.text).splitlines()[-15:])
            raise GuestError(f"the {what} did not finish booting ({exc}); "
                             f"last console lines:\n{tail}") from exc
    report = dataclasses.replace(
        report, iomem=parse_iomem(now),
        sections={**report.sections, "iomem": now, "iomem-at-boot": report.sections["iomem"]})
    return report, used


async def boot_report(machine: str, memory: int | str, cmdline: str, probes: Sequence[Probe],
                      *, timeout: float = 120.0, artifacts: GuestArtifacts | None = None,
                      progress: Progress | None = None,
                      accel: str = "tcg") -> tuple[GuestReport, float, str]:
    """Boot the guest once with this configuration: its parsed report, the boot time and the
    accelerator it ran on ("auto" resolves to "kvm" or "tcg" when QEMU starts)."""
    from .linux import linux_guest_spec

    say = progress or (lambda _msg: None)
    spec = linux_guest_spec(cmdline, machine=machine, memory=memory, probes=probes,
                            artifacts=artifacts, accel=accel)
    t0 = time.monotonic()
    say(f"booting the Linux guest: {machine} {memory}, append {spec.append!r}")
    report, used = await boot_and_report(spec, timeout=timeout, say=say)
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
