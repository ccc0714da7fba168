"""scripts/demo: the seed article's experiment on a real guest (two boots, ~10 s).

The main test runs `scripts/demo.py --json` as a user would and checks the facts it measured
against linux-memory.md section 6; they come from real boots, so any of them can fail. The
table logic is also checked on its own with figures the article would have got right.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from driverkit.demos.seed import (
    ARTICLE_RANGE,
    CMDLINE,
    GUEST_MAGIC,
    BootFacts,
    Limits,
    comparison,
    table_lines,
)
from driverkit.errors import ArtifactMissing, MemModelError
from driverkit.guest import GuestArtifacts, RangeProbe
from driverkit.mem import mem_window, plan

ROOT = Path(__file__).resolve().parents[2]
CARVE_START, CARVE_SIZE = 0xF800000, 0x7E0000  # up to SeaBIOS's tables at 0x0ffe0000


@pytest.fixture(scope="module")
def demo():
    try:
        GuestArtifacts.locate()
    except ArtifactMissing as exc:
        pytest.skip(f"Linux guest not built: {exc}")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--json"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), proc.stderr


def verdicts(result: dict) -> dict[str, str]:
    return {row["key"]: row["verdict"] for row in result["table"]}


def test_progress_is_numbered_steps_and_ends_with_the_table(demo):
    _, progress = demo
    steps = re.findall(r"^\[(\d)/(\d)\] ", progress, re.M)
    assert steps == [(str(i), "7") for i in range(1, 8)]
    assert "The seed article's table" in progress and "done in" in progress


def test_carve_out_comes_from_the_model_and_the_model_matches_the_guest(demo):
    result, _ = demo
    assert (result["carveout"]["start"], result["carveout"]["size"]) == (CARVE_START, CARVE_SIZE)
    assert result["model"]["dmesg_diff"] == [] and result["model"]["iomem_diff"] == []
    assert result["boot"]["memory_total_kb"] == result["model"]["memory_total_kb"] == 253560
    assert result["boot"]["iomem"] == ["0f800000-0ffdffff : RAM buffer",
                                       "0ffe0000-0fffffff : Reserved"]


def test_the_articles_ioremap_fails_on_pat_and_the_usable_part_maps(demo):
    boot = demo[0]["boot"]
    art, use = boot["article_range"], boot["usable_range"]
    assert (art["start"], art["size"]) == ARTICLE_RANGE
    assert (art["ioremap"], art["request"]) == ("fail", "ebusy")
    assert (use["ioremap"], use["rw"], use["request"]) == ("ok", "ok", "ebusy")
    assert boot["ioremap_error"].startswith("ioremap error for 0xf800000-0x10000000")


def test_measured_allocator_limits(demo):
    boot = demo[0]["boot"]
    lim = boot["limits"]
    assert (lim["gfp_max_order"], lim["kmalloc_max"], lim["dma_coherent_max"]) == (
        10, 4 << 20, 4 << 20)
    assert lim["vmalloc_max"] > 4 << 20 and lim["vmalloc_runs"] >= 1
    assert boot["largest_kmalloc_cache"] == 8192
    assert boot["symbols"] == {"alloc_bootmem": False, "__alloc_bootmem": False,
                               "memblock_alloc_try_nid": True}


def test_edu_dma_through_the_carve_out_and_both_read_backs(demo):
    result, _ = demo
    pool, dma, rb = result["pool"], result["dma"], result["readback"]
    assert (pool["start"], pool["size"]) == (CARVE_START, CARVE_SIZE)
    for buf in pool["buffers"].values():
        assert CARVE_START <= buf["phys"] and buf["phys"] + buf["size"] <= CARVE_START + CARVE_SIZE
    assert dma["ok"] and dma["src"] != dma["dst"]
    assert rb["host_ok"] and rb["guest_ok"] and rb["host_read"] == GUEST_MAGIC
    assert rb["devmem_without_relaxed"] == "EPERM"  # why the guest boots with iomem=relaxed


def test_memmap_is_the_clean_carve_out(demo):
    clean = demo[0]["clean"]
    assert clean["iomem"] == ["0f800000-0fffffff : Reserved"]
    use = clean["usable_range"]
    assert (use["request"], use["ioremap"], use["rw"]) == ("ok", "ok", "ok")
    assert clean["article_range"]["ioremap"] == "fail"  # the ACPI tables are still there
    assert clean["devmem_ok"]


def test_table_verdicts(demo):
    assert verdicts(demo[0]) == {
        "__get_free_pages": "agree", "kmem_cache_alloc": "agree", "kmalloc": "differ",
        "vmalloc": "agree", "dma_alloc_coherent": "agree",
        "ioremap(0xf800000, 8M)": "differ", "mem=248M": "partly",
        "alloc_bootmem": "differ", "memmap=8M$248M": "info"}


# --- pure logic: no guest -----------------------------------------------------------------


def test_the_carve_out_from_the_model_stops_at_the_firmware_tables():
    window = mem_window(plan("pc", "256M", CMDLINE, defaults=False))
    assert (window.start, window.size) == (CARVE_START, CARVE_SIZE)
    with pytest.raises(MemModelError, match="mem= windows"):
        mem_window(plan("pc", "256M", "", defaults=False))


USABLE = RangeProbe(CARVE_START, CARVE_SIZE, "all", "ebusy", "ok", "ok", 0, "ok")


def _boot(**over) -> BootFacts:
    boot = BootFacts(
        cmdline=CMDLINE, kernel="6.1", uptime=1.0, memory_total_kb=253560, iomem=[],
        window_resource="RAM buffer", ram_buffers=[],
        limits=Limits(gfp_max_order=10, kmalloc_max=4 << 20, vmalloc_max=64 << 20,
                      vmalloc_runs=3, dma_coherent_max=4 << 20),
        article_range=replace(USABLE, size=8 << 20, ioremap="fail"), usable_range=USABLE,
        ioremap_error=None, symbols={"alloc_bootmem": False, "memblock_alloc_try_nid": True},
        largest_kmalloc_cache=8192)
    return replace(boot, **over)


def test_verdicts_follow_the_numbers_not_the_text():
    rows = {r.key: r.verdict for r in comparison(_boot(), None)}
    assert rows["kmalloc"] == "differ" and "memmap=8M$248M" not in rows
    # a 2.6-era kernel: kmalloc tops out at 128 KiB, ioremap of the 8 MiB works, bootmem exists
    old = _boot(limits=replace(_boot().limits, kmalloc_max=128 << 10),
                article_range=replace(_boot().article_range, ioremap="ok"),
                symbols={"alloc_bootmem": True})
    rows = {r.key: r.verdict for r in comparison(old, None)}
    assert rows["kmalloc"] == rows["ioremap(0xf800000, 8M)"] == rows["alloc_bootmem"] == "agree"
    assert rows["mem=248M"] == "partly"  # 8 MiB minus the firmware tables, and busy
    whole = _boot(usable_range=replace(USABLE, size=8 << 20, request="ok"))
    assert {r.key: r.verdict for r in comparison(whole, None)}["mem=248M"] == "agree"
    unmappable = _boot(usable_range=replace(USABLE, ioremap="fail"))
    assert {r.key: r.verdict for r in comparison(unmappable, None)}["mem=248M"] == "differ"
    lines = table_lines(comparison(_boot(), None))
    assert lines[0].split() == ["call", "the", "article", "says", "measured", "verdict"]
    assert all(len(ln) <= 100 for ln in lines if ln.startswith("    "))


def test_arm64_chapter_reserves_at_boot_and_maps_later(demo):
    a = demo[0]["arm64"]
    assert a is not None and a["ok"], a
    start, size = a["start"], a["size"]
    assert (start, size) == (0x4E000000, 8 << 20)
    # the model said where the no-map node lands, and the kernel put it there
    assert a["model_iomem"] == a["kernel_iomem"] == ["4e000000-4e7fffff : reserved"]
    assert a["memcheck_rows"] >= 30 and a["memcheck_differ"] == []
    if a["kernel_gates"]:  # dkprobe built for arm64
        assert a["kernel_gates"]["ioremap"] == a["model_gates"]["ioremap"] == "ok"
        assert a["kernel_gates"]["rw"] == "ok"
    assert a["guest_read_ok"] and a["host_read"] == a["guest_wrote"] == GUEST_MAGIC
    assert {r["verdict"] for r in a["rows"]} == {"agree"}
