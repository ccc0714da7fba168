"""ioremap / memremap / request_mem_region / /dev/mem outcomes.

Expected outcomes for pc 256M are the ones measured on real 6.1 guests and recorded in
linux-memory.md (ioremap(0xF800000, 8M) fails with a PAT conflict, 0x7e0000 works, the
RAM buffer makes request_mem_region -EBUSY, memmap=8M$248M makes it work); the rest follow
the kernel sources named in driverkit/mem/gates.py.
"""

import json
from pathlib import Path

import pytest

from driverkit.mem import plan

M = 1 << 20


def _probe(cmdline, start, size, machine="pc"):
    return plan(machine, "256M", cmdline, probes=[(start, size)]).probes[0]


def test_article_recipe_fails_on_pat():
    p = _probe("mem=248M", 0xF800000, 8 * M)
    assert p.ioremap == "fail"
    assert "PAT conflict: 0x0ffe0000-0x0ffe1fff is ACPI tables mapped write-back" in p.reason
    assert "requested 0x2, got 0x0" in p.reason
    assert p.request_mem_region == "fail" and "RAM buffer is busy" in p.reason
    assert p.devmem_mmap == "EPERM" and "iomem=relaxed" in p.reason
    assert p.devmem_read == "EFAULT"


def test_stopping_before_the_tables_works():
    p = _probe("mem=248M", 0xF800000, 0x7E0000)
    assert (p.ioremap, p.memremap, p.request_mem_region) == ("ok", "ok", "fail")


def test_iomem_relaxed_opens_dev_mem():
    p = _probe("mem=248M iomem=relaxed", 0xF800000, 0x7E0000)
    assert p.devmem_mmap == "ok"


def test_memmap_reserved_is_the_clean_carveout():
    p = _probe("memmap=8M$248M", 0xF800000, 0x7E0000)
    assert (p.ioremap, p.request_mem_region, p.devmem_mmap) == ("ok", "ok", "ok")
    assert "nests under 0x0f800000-0x0fffffff : Reserved" in p.reason
    # the whole 8M still meets the firmware tables
    assert _probe("memmap=8M$248M", 0xF800000, 8 * M).ioremap == "fail"


def test_ram_in_use_is_refused_but_boot_reserved_ram_is_not():
    p = _probe("", 0x8000000, 0x1000)
    assert p.ioremap == "fail" and "ioremap on RAM at 0x8000000" in p.reason
    assert p.memremap == "ok" and "direct map" in p.reason
    assert p.request_mem_region == "fail" and p.devmem_mmap == "EPERM"
    k = plan("pc", "256M", "", probes=[(0x1000000, 0x1000)])  # the kernel image: PageReserved
    assert k.probes[0].ioremap == "ok"
    c = plan("pc", "256M", "crashkernel=64M", probes=[(0xB000000, 0x1000)])
    assert c.state.carveouts[0].start == 0xB000000 and c.probes[0].ioremap == "ok"


def test_mixed_ram_and_other_is_refused():
    p = _probe("mem=248M", 0xF7FF000, 0x2000)
    assert p.ioremap == "fail" and p.memremap == "fail"
    assert "mixed" in p.reason


def test_pci_hole_is_free_for_drivers():
    p = _probe("", 0xFE000000, 0x1000)
    assert (p.ioremap, p.request_mem_region, p.devmem_mmap) == ("ok", "ok", "ok")
    assert "PCI Bus 0000:00" in p.reason
    hp = _probe("", 0xFED00000, 0x400)
    assert hp.request_mem_region == "fail" and "HPET 0 is busy" in hp.reason


def test_pram_window_behaves_like_a_device():
    p = _probe("memmap=6M!248M", 0xF800000, 6 * M)
    assert (p.ioremap, p.request_mem_region) == ("ok", "ok")
    assert "Persistent Memory (legacy)" in p.reason


DEVMEM = json.loads((Path(__file__).parent / "data" / "devmem_6.1.0-56.json").read_text())


@pytest.mark.parametrize(
    "case", DEVMEM["cases"], ids=lambda c: f"{c['machine']}-{c['cmdline'] or 'plain'}"
)
def test_dev_mem_outcomes_match_real_guests(case):
    """Measured with busybox devmem/dd in a real guest (see the JSON's _measured note)."""
    addrs = sorted(set(case["mmap"]) | set(case["read"]), key=lambda a: int(a, 16))
    p = plan(case["machine"], "256M", case["cmdline"], probes=[(int(a, 16), 4) for a in addrs])
    got = {a: pr.devmem_mmap for a, pr in zip(addrs, p.probes) if a in case["mmap"]}
    assert got == case["mmap"]
    got = {a: pr.devmem_read for a, pr in zip(addrs, p.probes) if a in case["read"]}
    assert got == case["read"]
