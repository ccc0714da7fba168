"""The model against real boots (figures MEASURED, not derived).

Every case in data/boots_6.1.0-56.json was measured on this machine by booting Debian's
linux-image-6.1.0-56-cloud-amd64 (6.1.192) straight from QEMU 7.2 + SeaBIOS 1.16.2 (TCG):
  qemu-system-x86_64 -M <pc|q35> -m <size> -accel tcg -nographic -no-reboot -kernel vmlinuz \
    -append "console=ttyS0 ignore_loglevel log_buf_len=8M memblock=debug panic=-1 <cmdline>"
and keeping its BIOS-e820, user: and "Memory: X/YK available" lines. data/iomem_6.1.0-56.json
holds /proc/iomem read (as root) by a busybox initramfs in the same setup (no log_buf_len).
"""

import functools
import json
import re
from pathlib import Path

import pytest

from driverkit.errors import CmdlineError
from driverkit.mem import MemPlan, parse_e820_log, plan

DATA = Path(__file__).parent / "data"
BOOTS = json.loads((DATA / "boots_6.1.0-56.json").read_text())
IOMEM = json.loads((DATA / "iomem_6.1.0-56.json").read_text())
BOOTED = {k: v for k, v in BOOTS.items() if v["memory_total_kb"] is not None}


@functools.cache
def _plan_of(name: str) -> MemPlan:
    """The model for a measured boot, planned once for the tests that compare it."""
    case = BOOTED[name]
    return plan(
        case["machine"],
        case["memory"],
        case["cmdline"],
        strict=False,
        defaults=case.get("defaults", True),
    )


@pytest.mark.parametrize("name", sorted(BOOTED))
def test_firmware_map_user_map_and_memory_total(name):
    case, p = BOOTED[name], _plan_of(name)
    assert [e.log_line() for e in p.state.firmware] == case["bios_e820"]
    assert [e.log_line("user") for e in (p.state.user_map or [])] == case["user"]
    assert p.memory_total_kb == case["memory_total_kb"]


def test_measured_figures_from_the_brief():
    # figures from linux-memory.md, re-measured here
    assert BOOTS["pc_256M"]["memory_total_kb"] == 261624
    assert BOOTS["pc_256M_mem248M"]["memory_total_kb"] == 253560
    assert BOOTS["pc_256M_mem250000K"]["memory_total_kb"] == 249608
    assert plan("pc", "256M", "mem=0xF800000").memory_total_kb == 253560


def test_high_table_reservation_is_per_machine_not_per_size():
    """Measured at 128M..5G, -smp 1/4/8, extra devices: the reserved block right above low RAM
    is 128K on pc, and on q35 132K with QEMU's default devices but 128K under -nodefaults."""
    sizes: dict[tuple[str, bool], set[int]] = {}
    for case in BOOTS.values():
        if case["cmdline"] or case["memory_total_kb"] is None:
            continue
        es = parse_e820_log("\n".join(case["bios_e820"]))
        ram_ends = {e.end for e in es if e.type == 1 and e.addr >= 0x100000}
        for e in es:
            if e.type == 2 and e.addr in ram_ends:
                key = (case["machine"], case.get("defaults", True))
                sizes.setdefault(key, set()).add(e.size)
    assert sizes == {
        ("pc", True): {0x20000},
        ("q35", True): {0x21000},
        ("pc", False): {0x20000},
        ("q35", False): {0x20000},
    }
    assert len([c for c in BOOTS.values() if not c["cmdline"]]) == 27


def test_octal_trap_is_refused_and_leniently_explained():
    # measured: mem=0248M (octal 024 = 20 bytes) hangs before the first console line
    assert BOOTS["pc_256M_memoct"]["memory_total_kb"] is None
    with pytest.raises(CmdlineError, match="octal"):
        plan("pc", "256M", "mem=0248M")
    p = plan("pc", "256M", "mem=0248M", strict=False)
    assert any("expect no boot" in w for w in p.warnings)


def _crash_mb(lines):  # "Reserving 32MB of memory at 208MB" -> (32, 208)
    return [
        tuple(
            int(x)
            for x in re.search(r"Reserving (\d+)MB of (?:low )?memory at (\d+)MB", ln).groups()
        )
        for ln in lines
    ]


def _kernel_at(iomem_text):
    m = re.search(r"^\s+([0-9a-f]+)-[0-9a-f]+ : Kernel code$", iomem_text, re.M)
    return int(m.group(1), 16)


CRASH = sorted(n for n, c in BOOTS.items() if c["crashkernel"] and c["memory_total_kb"])


@pytest.mark.parametrize("name", CRASH)
def test_crashkernel_placement(name):
    """Reservation lines of the measured boots, given that boot's kernel image position (KASLR,
    from its memblock reserved[] dump)."""
    case = BOOTS[name]
    p = plan(
        case["machine"],
        case["memory"],
        case["cmdline"] + " log_buf_len=8M",
        kernel_at=int(case["kernel_at"], 16),
    )
    want = [ln for ln in case["crashkernel"] if ln.startswith("Reserving") or "failed" in ln]
    got = [ln for ln in p.state.log if "crashkernel" in ln]
    assert got == want


def test_crashkernel_range_rounds_memory_up_to_128M():
    case = IOMEM["pc_256M_crashround"]  # crashkernel=256M-:32M with 255 MiB of RAM
    p = plan(
        "pc",
        "256M",
        case["cmdline"],
        kernel_at=_kernel_at(case["iomem"]),
        initrd_size=case["initrd_size"],
    )
    assert [(c.size >> 20, c.start >> 20) for c in p.state.carveouts] == _crash_mb(
        case["crashkernel"]
    )


@pytest.mark.parametrize("name", sorted(IOMEM))
def test_proc_iomem_matches_real_guest(name):
    case = IOMEM[name]
    p = plan(
        case["machine"],
        case["memory"],
        case["cmdline"],
        kernel_at=_kernel_at(case["iomem"]),
        initrd_size=case["initrd_size"],
        defaults=case.get("defaults", True),
    )
    assert p.diff_iomem(case["iomem"], kernel=True) == []
    assert p.memory_total_kb == case["memory_total_kb"]


def test_iomem_text_is_line_exact_for_pc_mem248M():
    case = IOMEM["pc_256M_mem248M"]
    p = plan("pc", "256M", "mem=248M", kernel_at=_kernel_at(case["iomem"]))
    real = [ln for ln in case["iomem"].splitlines() if not re.search(r": 0000:00:0", ln)]
    assert p.iomem_text().splitlines() == real


@pytest.mark.parametrize("name", sorted(BOOTED))
def test_zone_ranges_and_last_pfn(name):
    """The "Zone ranges:" block and the first last_pfn line of the same measured boots."""
    case, p = BOOTED[name], _plan_of(name)
    got = [
        [z.name, None, None] if z.empty else [z.name, f"{z.start:#018x}", f"{z.end - 1:#018x}"]
        for z in p.state.zones
    ]
    assert got == case["zones"]
    assert f"{p.state.max_pfn:#x}" == case["last_pfn"]


def _log_of(case):
    """A boot log rebuilt from the measured lines (prefixed like dmesg)."""
    lines = list(case["bios_e820"])
    if case["user"]:
        lines += ["user-defined physical RAM map:"] + case["user"]
    lines.append(f"last_pfn = {case['last_pfn']} max_arch_pfn = 0x400000000")
    lines.append("Zone ranges:")
    for name, a, b in case["zones"]:
        lines.append(f"  {name:<8} empty" if a is None else f"  {name:<8} [mem {a}-{b}]")
    lines.append(f"Memory: 1000K/{case['memory_total_kb']}K available (...)")
    return "\n".join(f"[    0.000000] {ln}" for ln in lines)


def test_diff_dmesg_agrees_with_measured_logs_and_catches_a_wrong_model():
    case = BOOTS["pc_256M_mem248M"]
    assert plan("pc", "256M", "mem=248M").diff_dmesg(_log_of(case)) == []
    wrong = plan("pc", "256M", "mem=240M").diff_dmesg(_log_of(case))
    assert any(w.startswith("user: expected") for w in wrong)
    assert "Memory: expected .../245368K, got .../253560K" in wrong
    assert "last_pfn: expected 0xf000, got 0xf800" in wrong
    q = BOOTS["q35_5G"]
    assert plan("q35", "5G").diff_dmesg(_log_of(q)) == []
