"""Parsers on real serial output captured from the guest (tests/guest/data/*.log).

The logs were captured through `Machine` (QEMU 7.2, -M pc -m 256M, SeaBIOS, TCG) booting the
Debian 6.1.0-56-cloud-amd64 kernel with the dkprobe initramfs; see README in data/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driverkit.errors import GuestError
from driverkit.guest.report import (
    IomemNode,
    iomem_find,
    iomem_overlapping,
    ioremap_error,
    normalize,
    parse_buddyinfo,
    parse_carveouts,
    parse_dkprobe,
    parse_iomem,
    parse_memory_line,
    parse_report,
    split_sections,
    strip_timestamps,
)
from driverkit.mem import E820Entry, E820Type, parse_e820_log

DATA = Path(__file__).parent / "data"
MIB = 1 << 20


def load(name: str) -> str:
    return (DATA / name).read_text()


@pytest.fixture(scope="module")
def plain():
    return parse_report(load("boot-pc-256m.log"))


@pytest.fixture(scope="module")
def mem248():
    return parse_report(load("boot-pc-256m-mem248m.log"))


def test_sections_are_all_present_and_clean():
    sections = split_sections(load("boot-pc-256m.log"))
    for name in ("uname", "cmdline", "iomem", "memmap", "meminfo", "buddyinfo", "zoneinfo",
                 "dmesg", "dkprobe", "probe-log", "uptime"):
        assert name in sections, name
    assert "\r" not in sections["iomem"]
    assert sections["uname"].startswith("Linux dkguest 6.1.0-")
    assert "dkprobe.ranges=0xf800000:0x800000,0xf800000:0x7e0000" in sections["cmdline"]


def test_uptime_when_reports_were_done(plain):
    assert 0.5 < plain.uptime < 60


def test_iomem_tree_without_mem_limit(plain):
    ram = [n for n in plain.iomem if n.name == "System RAM"]
    assert [(n.start, n.end) for n in ram] == [(0x1000, 0x9FBFF), (0x100000, 0xFFDFFFF)]
    kernel = [c.name for c in ram[1].children]
    assert kernel == ["Kernel code", "Kernel rodata", "Kernel data", "Kernel bss"]
    reserved = [n for n in plain.iomem if n.name == "Reserved" and n.start == 0xFFE0000]
    assert reserved and reserved[0].end == 0xFFFFFFF and reserved[0].size == 128 << 10
    assert iomem_find(plain.iomem, "System ROM")[0].start == 0xF0000
    assert not iomem_find(plain.iomem, "RAM buffer")


def test_iomem_tree_with_mem_248m(mem248):
    buf = iomem_find(mem248.iomem, "RAM buffer")
    assert [(n.start, n.end) for n in buf] == [(0xF800000, 0xFFDFFFF)]
    ram = [n for n in mem248.iomem if n.name == "System RAM"]
    assert ram[-1].end == 0xF7FFFFF
    d = ram[-1].to_dict()
    assert d["start"] == 0x100000 and d["children"][0]["name"] == "Kernel code"


def test_memory_line_matches_reference_totals(plain, mem248):
    # linux-memory.md section 6: Y = present pages, 261624K at 256M and 253560K with mem=248M
    assert plain.memory_total_kb == 261624
    assert mem248.memory_total_kb == 253560
    assert plain.memory.reserved_kb == 47780 and plain.memory.cma_reserved_kb == 0
    assert plain.memory.available_kb < plain.memory.total_kb


def test_e820_maps(plain, mem248):
    usable = [e for e in plain.e820 if e.type == E820Type.RAM]
    assert [(e.addr, e.last) for e in usable] == [(0, 0x9FBFF), (0x100000, 0xFFDFFFF)]
    assert plain.user_e820 == []
    assert mem248.e820 == plain.e820  # the firmware map does not see mem=
    user_usable = [(e.addr, e.last) for e in mem248.user_e820 if e.type == E820Type.RAM]
    assert user_usable == [(0, 0x9FBFF), (0x100000, 0xF7FFFFF)]
    assert E820Entry(0xFFE0000, 0x20000, E820Type.RESERVED) in mem248.user_e820


def test_e820_map_from_full_console_is_not_doubled():
    # the console shows the kernel log once live and once in the dmesg report
    text = load("boot-pc-256m.log")
    assert normalize(text).count("BIOS-e820: [mem 0x0000000000100000") == 2
    assert len(parse_e820_log(normalize(text))) == 7


def test_ram_buffers(plain, mem248):
    assert plain.ram_buffers == [(0x9FC00, 0x9FFFF), (0xFFE0000, 0xFFFFFFF)]
    assert mem248.ram_buffers == [(0x9FC00, 0x9FFFF), (0xF800000, 0xFFFFFFF)]


def test_meminfo_and_buddyinfo_agree(plain):
    mi = plain.meminfo
    assert 150_000 < mi["MemTotal"] < 262_144
    assert mi["MemFree"] < mi["MemTotal"]
    assert "CmaTotal" not in mi  # the cloud kernel has no CONFIG_CMA
    assert mi["VmallocTotal"] > 0
    zones = {z.zone: z for z in plain.buddyinfo}
    assert set(zones) == {"DMA", "DMA32"}
    assert all(len(z.free) == 11 for z in zones.values())  # MAX_ORDER 11 on 6.1
    free_kb = sum(z.free_pages for z in zones.values()) * 4
    assert abs(free_kb - mi["MemFree"]) < mi["MemFree"] * 0.05
    assert zones["DMA32"].max_order == 10


def test_zoneinfo(plain):
    z = plain.zoneinfo
    assert z["node0/DMA"]["start_pfn"] == 1
    assert z["node0/DMA32"]["start_pfn"] == 4096
    assert z["node0/DMA32"]["present"] + z["node0/DMA"]["present"] == 261624 // 4
    assert z["node0/DMA32"]["managed"] <= z["node0/DMA32"]["present"]


def test_crashkernel_carveout():
    rep = parse_report(load("boot-pc-256m-crashkernel.log"))
    assert rep.carveouts[0].name == "crashkernel"
    assert rep.carveouts[0].size == 32 * MIB
    assert rep.carveouts[0].start == 208 * MIB
    crash = iomem_find(rep.iomem, "Crash kernel")
    assert [(n.start, n.size) for n in crash] == [(208 * MIB, 32 * MIB)]


def test_carveout_line_formats():
    # formats from the 6.1 sources: mm/cma.c, arm64 reserve_crashkernel, x86 low reservation
    text = ("[    0.000000] cma: Reserved 16 MiB at 0x000000000f000000\n"
            "[    0.000000] cma: Reserved 64 MiB at 0x00000000bc000000 on node -1\n"
            "[    0.000000] crashkernel reserved: 0x00000000dc000000 - 0x00000000fc000000"
            " (512 MB)\n"
            "[    0.000000] Reserving 256MB of low memory at 3824MB for crashkernel"
            " (low RAM limit: 4096MB)\n")
    got = [(c.name, c.start, c.size) for c in parse_carveouts(text)]
    assert got == [("cma", 0xF000000, 16 * MIB), ("cma", 0xBC000000, 64 * MIB),
                   ("crashkernel_low", 3824 * MIB, 256 * MIB),
                   ("crashkernel", 0xDC000000, 512 * MIB)]


def test_dkprobe_without_mem_limit(plain):
    p = plain.probe
    assert p.complete and not p.errors
    assert p.info["release"].startswith("6.1.0-") and p.info["max_order"] == "11"
    assert p.limits() == {"gfp_max_order": 10, "kmalloc_max": 4 * MIB,
                          "dma_coherent_max": 4 * MIB, "vmalloc_max": p.vmalloc_max}
    assert p.gfp[10] and not p.gfp[11] and not p.gfp[12]
    assert p.kmalloc[4 * MIB] and not p.kmalloc[4 * MIB + 1] and p.kmalloc[8192 + 1]
    assert p.vmalloc_runs >= 1 and p.vmalloc_max > 64 * MIB
    assert p.values["vmalloc_over_ok"] == 0
    assert max(p.dma[24]) == 4 * MIB and all(a < 1 << 24 for a in p.dma[24].values())
    whole = p.range(0xF800000, 0x800000)  # RAM + the firmware's reserved tail
    assert (whole.ram, whole.request, whole.ioremap, whole.memremap) == (
        "mixed", "ebusy", "fail", "fail")
    usable = p.range(0xF800000, 0x7E0000)  # all System RAM: ioremap refused, memremap = direct map
    assert (usable.ram, usable.request, usable.ioremap, usable.memremap) == (
        "all", "ebusy", "fail", "ok")


def test_dkprobe_with_mem_248m_matches_reference(mem248):
    # linux-memory.md section 6: ioremap(0xF800000, 8 MiB) fails, ioremap(.., 0x7e0000) works,
    # request_mem_region fails -EBUSY (the RAM buffer resource)
    p = mem248.probe
    whole, usable = p.range(0xF800000, 0x800000), p.range(0xF800000, 0x7E0000)
    assert (whole.ram, whole.request, whole.ioremap) == ("none", "ebusy", "fail")
    assert (usable.ram, usable.request, usable.ioremap, usable.rw) == ("none", "ebusy", "ok", "ok")
    assert usable.rw_read == 0xA5C3F00D
    assert [(x.mode, x.ioremap, x.mismatches) for x in p.patterns] == [("write", "ok", 0)]
    with pytest.raises(GuestError, match="did not probe 0x1000"):
        p.range(0x1000, 0x1000)


def test_dkprobe_with_memmap_reserved():
    # memmap=8M$248M marks the carve-out reserved: request_mem_region now succeeds
    rep = parse_report(load("boot-pc-256m-memmap-8M-reserved.log"))
    whole, usable = rep.probe.range(0xF800000, 0x800000), rep.probe.range(0xF800000, 0x7E0000)
    assert (whole.request, whole.ioremap) == ("ok", "fail")
    assert (usable.request, usable.ioremap, usable.rw) == ("ok", "ok", "ok")
    assert E820Entry(0xF800000, 0x800000, E820Type.RESERVED) in rep.user_e820
    assert rep.probe.gfp == {}  # tests=ranges only


def test_dkprobe_parses_dmesg_copy_and_takes_last_run():
    sections = split_sections(load("boot-pc-256m-mem248m.log"))
    from_log = parse_dkprobe(sections["probe-log"])  # timestamped printk lines
    assert from_log.limits() == parse_dkprobe(sections["dkprobe"]).limits()
    two_runs = ("DKPROBE begin version=1\nDKPROBE gfp_max_order=3\nDKPROBE end\n"
                "DKPROBE begin version=1\nDKPROBE gfp_max_order=10\n")
    last = parse_dkprobe(two_runs)
    assert last.gfp_max_order == 10 and not last.complete


def test_dkprobe_malformed_line():
    with pytest.raises(GuestError, match="malformed DKPROBE line"):
        parse_dkprobe("DKPROBE gfp order=1\n")


def test_report_requires_sections():
    with pytest.raises(GuestError, match="lacks the report section.*iomem"):
        parse_report("=== DK BEGIN meminfo ===\nMemTotal: 1 kB\n=== DK END meminfo ===\n")


def test_iomem_malformed_line():
    with pytest.raises(GuestError, match="line 2"):
        parse_iomem("00000000-00000fff : Reserved\nnot a resource\n")


def test_memory_line_absent():
    assert parse_memory_line("no such line") is None


def test_strip_timestamps():
    assert strip_timestamps("[    1.234567] hello\n[12345.000001] x") == "hello\nx"


def test_buddyinfo_empty_zone():
    (z,) = parse_buddyinfo("Node 0, zone   Normal      0      0      0\n")
    assert z.max_order == -1 and z.free_pages == 0


# --- property: format a random resource tree as /proc/iomem and parse it back -------------


@st.composite
def trees(draw, start=0, end=0xFFFFFFFF, depth=0):
    """Disjoint, sorted sibling ranges inside [start, end], nested up to 3 deep."""
    n = draw(st.integers(0, min(4 if depth < 3 else 0, (end - start + 1) // 2)))
    cuts = sorted(draw(st.lists(st.integers(start, end), min_size=2 * n, max_size=2 * n,
                                unique=True)))
    nodes = []
    for i in range(n):
        s, e = cuts[2 * i], cuts[2 * i + 1]
        name = draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1,
                            max_size=20).filter(lambda t: t.strip() == t))
        nodes.append(IomemNode(s, e, name, draw(trees(s, e, depth + 1))))
    return nodes


def fmt(nodes, level=0):
    width = 8
    out = []
    for n in nodes:
        out.append(f"{'  ' * level}{n.start:0{width}x}-{n.end:0{width}x} : {n.name}")
        out += fmt(n.children, level + 1)
    return out


@given(trees())
def test_iomem_round_trip(nodes):
    assert parse_iomem("\n".join(fmt(nodes)) + "\n") == nodes


def test_iomem_lines_over_a_range_and_the_pat_refusal(mem248, plain):
    top = iomem_overlapping(mem248.iomem, 0xF800000, 0xFFFFFFF)
    assert [n.line() for n in top] == ["0f800000-0ffdffff : RAM buffer",
                                       "0ffe0000-0fffffff : Reserved"]
    assert iomem_overlapping(mem248.iomem, 0xF800000, 0xF800000) == top[:1]
    assert ioremap_error(load("boot-pc-256m-mem248m.log")).startswith(
        "ioremap error for 0xf800000-0x10000000")
    assert ioremap_error(plain.dmesg) is None
