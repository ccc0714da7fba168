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


def test_mixed_ranges_follow_pat_pagerange_is_ram():
    # measured: with a 1 MiB initrd the kernel moves it under mem=248M and frees it later,
    # so the last RAM page is in use: ioremap on RAM; memremap refuses the mixed range
    p = plan("pc", "256M", "mem=248M", probes=[(0xF7FF000, 0x2000)], initrd_size=1089586).probes[0]
    assert p.ioremap == "fail" and "ioremap on RAM at 0xf7ff000" in p.reason
    assert p.memremap == "fail" and "mixed" in p.reason
    # without an initrd that page holds NODE_DATA (reserved): RAM-then-other counts as RAM
    assert _probe("mem=248M", 0xF7FF000, 0x2000).ioremap == "ok"
    # other-then-RAM is -EINVAL even when the RAM page is boot-reserved (the kernel image)
    q = plan("pc", "256M", "memmap=2M$14M", probes=[(0xFFF000, 0x2000)], kernel_at=0x1000000)
    assert q.probes[0].ioremap == "fail" and "memtype_reserve failed -22" in q.probes[0].reason


def test_pci_hole_is_free_for_drivers():
    p = _probe("", 0xFE000000, 0x1000)
    assert (p.ioremap, p.request_mem_region, p.devmem_mmap) == ("ok", "ok", "ok")
    assert "PCI Bus 0000:00" in p.reason
    hp = _probe("", 0xFED00000, 0x400)
    assert hp.request_mem_region == "ok" and "PNP0103:00" in hp.reason  # [verified]


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


GATES = json.loads((Path(__file__).parent / "data" / "gates_6.1.0-56.json").read_text())


@pytest.mark.parametrize("case", GATES["cases"], ids=lambda c: c["name"])
def test_ioremap_memremap_request_match_real_guests(case):
    """Measured with a module calling ioremap/memremap/request_mem_region in a real guest."""
    keys = list(case["probes"])
    probes = [(int(k.split(":")[0], 16), int(k.split(":")[1], 16)) for k in keys]
    p = plan(
        case["machine"],
        case["memory"],
        case["cmdline"],
        probes=probes,
        kernel_at=int(case["kernel_at"], 16),
        initrd_size=case["initrd_size"],
    )
    got = {
        k: {
            "ioremap": pr.ioremap,
            "memremap": pr.memremap,
            "request_mem_region": pr.request_mem_region,
        }
        for k, pr in zip(keys, p.probes)
    }
    assert got == case["probes"]
    assert p.diff_iomem(case["iomem"], kernel=True) == []


def test_one_probe_parser_for_every_form():
    """memplan, memcheck and the guest's dkprobe ranges all read probes with parse_probe."""
    from driverkit.errors import ConfigError, MemModelError, ProbeRangeError
    from driverkit.mem import parse_probes

    assert parse_probes(["0xF800000:8M", (0x1000, "4K"), "4096:0x1000", (0, 1)]) == [
        (0xF800000, 8 << 20), (0x1000, 0x1000), (0x1000, 0x1000), (0, 1)]
    assert issubclass(ProbeRangeError, ConfigError) and issubclass(ProbeRangeError, MemModelError)
    for bad, why in [("0xf800000", "is not START:SIZE"), ("zz:1", "start 'zz' is not a number"),
                     ((1, 2, 3), "not a .start, size. pair"), ((0x1000, 0), "size=0x0 is empty"),
                     ((-1, 4), "start=-0x1"), (((1 << 64) - 4096, 8192), "beyond 64 bits")]:
        with pytest.raises(ProbeRangeError, match=why):
            parse_probes([bad])
    with pytest.raises(ConfigError, match="unknown suffix 'Q'"):
        parse_probes(["0x1000:8Q"])
