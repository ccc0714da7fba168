"""plan() over random configurations: it answers or raises a DriverkitError, and what it
answers is self-consistent (a well-formed resource tree, zones that add up)."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driverkit.errors import DriverkitError
from driverkit.mem import plan

mib = st.integers(1, 6000).map(lambda n: f"{n}M")
items = st.one_of(
    mib.map(lambda s: f"mem={s}"),
    st.tuples(mib, mib, st.sampled_from("@#$!")).map(lambda t: f"memmap={t[0]}{t[2]}{t[1]}"),
    st.sampled_from(
        [
            "crashkernel=64M",
            "crashkernel=256M,high",
            "crashkernel=32M@64M",
            "crashkernel=512M-2G:64M,2G-:128M",
            "iomem=relaxed",
            "log_buf_len=1M",
        ]
    ),
)


def _check_tree(node, lo, hi):
    prev_end = lo - 1
    for c in node.children:
        assert lo <= c.start <= c.end <= hi
        assert c.start > prev_end
        prev_end = c.end
        _check_tree(c, c.start, c.end)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["pc", "q35"]),
    st.sampled_from(["128M", "256M", "1G", "3G", "5G"]),
    st.lists(items, max_size=4),
    st.integers(0, 1 << 33),
    st.integers(1, 1 << 26),
)
def test_plan_is_consistent(machine, memory, params, pstart, psize):
    try:
        p = plan(machine, memory, " ".join(params), probes=[(pstart, psize)])
    except DriverkitError:
        return
    _check_tree(p.iomem, 0, (1 << 64) - 1)
    assert p.memory_total_kb == 4 * sum(z.present_pages for z in p.state.zones)
    assert p.memory_total_kb * 1024 == p.state.memblock.phys_mem_size()
    for c in p.state.carveouts:
        assert c.size > 0
    j = p.to_dict()
    assert j["probes"][0]["ioremap"] in ("ok", "fail") and j["probes"][0]["reason"]
    assert p.iomem_text().count("\n") == sum(1 for _ in p.iomem.walk())
    assert p.to_svg().startswith("<svg")
