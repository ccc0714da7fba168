"""Kernel command-line parsing: mem=, memmap= (all x86 forms), crashkernel=, cma=."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driverkit.errors import CmdlineError
from driverkit.mem.cmdline import (
    MemLimit,
    MemmapAdd,
    MemmapExact,
    MemmapRemove,
    MemmapUpdate,
    parse_cmdline,
    split_args,
)
from driverkit.mem.e820 import E820Type

M = 1 << 20


def test_split_args_quotes_and_dashdash():
    assert split_args('a=1  b="x y" c -- mem=1M') == [("a", "1"), ("b", "x y"), ("c", None)]


def test_mem_forms():
    cl = parse_cmdline("console=ttyS0 mem=248M")
    assert cl.early == [MemLimit(248 * M, "mem=248M")] and cl.userdef
    assert parse_cmdline("mem=0xF800000").early[0].limit == 0xF800000
    assert parse_cmdline("mem=250000K").early[0].limit == 250000 * 1024


def test_memmap_every_form():
    cl = parse_cmdline(
        "memmap=exactmap memmap=640K@0 memmap=8M$248M,6M!200M memmap=2M#100M "
        "memmap=1M%16M-1+2 memmap=1M%20M-2 memmap=1M%24M+12 memmap=200M"
    )
    assert cl.early == [
        MemmapExact(),
        MemmapAdd(640 << 10, 0, E820Type.RAM, "640K@0"),
        MemmapAdd(8 * M, 248 * M, E820Type.RESERVED, "8M$248M"),
        MemmapAdd(6 * M, 200 * M, E820Type.PRAM, "6M!200M"),
        MemmapAdd(2 * M, 100 * M, E820Type.ACPI, "2M#100M"),
        MemmapUpdate(M, 16 * M, 1, 2, "1M%16M-1+2"),
        MemmapRemove(M, 20 * M, 2, "1M%20M-2"),
        MemmapAdd(M, 24 * M, 12, "1M%24M+12"),
        MemLimit(200 * M, "memmap=200M"),
    ]


@pytest.mark.parametrize(
    "cmdline,pattern",
    [
        ("mem=foo", r"^mem=foo:"),
        ("mem=", r"^mem=:"),
        ("mem=nopentium", r"^mem=nopentium:"),
        ("mem=0248M", r"^mem=0248M: .*octal"),
        ("memmap=8Mx248M", r"^memmap=8Mx248M: unknown separator 'x'.*mem=8M"),
        ("memmap=8M$248Mjunk", r"^memmap=8M\$248Mjunk: unexpected 'junk'"),
        ("memmap=8M$", r"^memmap=8M\$: expected a start address"),
        ("memmap=foo", r"^memmap=foo: expected a size"),
        ("memmap=4M$200M,bad", r"^memmap=4M\$200M,bad \(item 'bad'\)"),
        ("memmap=1M%16M-1x", r"^memmap=1M%16M-1x: expected nn%ss"),
        ("crashkernel=abc", r"^crashkernel=abc: memory value expected"),
        ("crashkernel=64Mx", r"^crashkernel=64Mx: unrecognized char 'x'"),
        ("crashkernel=512M-256M:64M", r"end 0x10000000 <= start"),
        ("crashkernel=0-512M,1G:64M", r"':' expected"),
        ("crashkernel=256M,high,", r"crashkernel="),
        ("cma=64Mz", r"^cma=64Mz: unexpected 'z'"),
        ("iomem=loose", r"^iomem=loose"),
    ],
)
def test_malformed_values_name_the_parameter(cmdline, pattern):
    with pytest.raises(CmdlineError, match=pattern):
        parse_cmdline(cmdline)


def test_lenient_keeps_the_kernel_reading():
    cl = parse_cmdline("memmap=8Mx248M mem=foo", strict=False)
    assert cl.early == [MemLimit(8 * M, "memmap=8Mx248M")]
    assert len(cl.warnings) == 2 and cl.userdef  # mem=foo still sets userdef (parse_memopt)


def test_crashkernel_forms():
    cl = parse_cmdline("crashkernel=64M@16M crashkernel=128M")  # the last one wins
    assert (cl.crashkernel.size, cl.crashkernel.base) == (128 * M, 0)
    cl = parse_cmdline(
        "crashkernel=512M-2G:64M,2G-:128M@32M crashkernel=256M,high crashkernel=0,low"
    )
    ck = cl.crashkernel
    assert ck.base == 32 * M and [r.size for r in ck.ranges] == [64 * M, 128 * M]
    assert ck.size_for(1 << 30) == 64 * M and ck.size_for(3 << 30) == 128 * M
    assert ck.size_for(256 * M) == 0
    # ranges compare memory rounded up to 128 MiB (measured: 256M-:32M matches 255 MiB)
    assert parse_cmdline("crashkernel=256M-:32M").crashkernel.size_for(255 * M) == 32 * M
    assert cl.crashkernel_high.size == 256 * M and cl.crashkernel_low.size == 0


def test_cma_forms():
    assert parse_cmdline("cma=64M").cma.size == 64 * M
    c = parse_cmdline("cma=64M@0-4G").cma
    assert (c.base, c.limit, c.fixed) == (0, 4 << 30, False)
    c = parse_cmdline("cma=16M@512M").cma
    assert (c.base, c.limit, c.fixed) == (512 * M, 528 * M, True)


sizes = st.integers(1, 4096).map(lambda n: (n, f"{n}M"))


@given(st.lists(st.tuples(sizes, sizes, st.sampled_from("@#$!")), min_size=1, max_size=5))
def test_memmap_lists_roundtrip(items):
    text = "memmap=" + ",".join(f"{s[1]}{sep}{a[1]}" for s, a, sep in items)
    cl = parse_cmdline(text)
    kinds = {"@": E820Type.RAM, "#": E820Type.ACPI, "$": E820Type.RESERVED, "!": E820Type.PRAM}
    assert cl.early == [
        MemmapAdd(s[0] * M, a[0] * M, kinds[sep], f"{s[1]}{sep}{a[1]}") for s, a, sep in items
    ]


@given(st.text(alphabet="0123456789xKMG@$#!%,-+=memapcrshkl ", max_size=40))
def test_parser_only_raises_cmdline_errors(text):
    try:
        parse_cmdline(text)
    except CmdlineError as exc:
        assert str(exc).split("=")[0].strip() in {
            "mem",
            "memmap",
            "crashkernel",
            "cma",
            "iomem",
            "log_buf_len",
        } or "memmap" in str(exc)
    cl = parse_cmdline(text, strict=False)  # the lenient reading never raises
    assert isinstance(cl.warnings, list)
