"""The firmware's memparse and allocator, built for the host and cross-checked against the
project's own allocator model (driverkit.mem): two independent implementations must agree."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driverkit.mem.memblock import Memblock
from driverkit.mem.memparse import memparse as model_memparse

FW = Path(__file__).resolve().parents[2] / "guest" / "firmware"
MiB = 1 << 20
IMAGE = (0x100000, 0x108000)
U64 = (1 << 64) - 1


class Range(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("end", ctypes.c_uint64)]


class Memmap(ctypes.Structure):
    _fields_ = [("ram", Range * 32), ("nr_ram", ctypes.c_int),
                ("other", Range * 32), ("nr_other", ctypes.c_int)]


@pytest.fixture(scope="module")
def fwlib(tmp_path_factory):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is needed to build the firmware logic for the host")
    out = tmp_path_factory.mktemp("fwlogic") / "libfwlogic.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-O1", "-fno-builtin", "-Wl,-Bsymbolic", f"-I{FW}",
                    str(FW / "cmdline.c"), str(FW / "memmap.c"), str(Path(__file__).with_name("host_shim.c")),
                    "-o", str(out)], check=True, timeout=60, capture_output=True)
    lib = ctypes.CDLL(str(out))
    lib.memparse.restype = ctypes.c_uint64
    lib.memparse.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
    lib.memmap_add.argtypes = [ctypes.POINTER(Memmap), ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32]
    lib.memmap_finish.argtypes = [ctypes.POINTER(Memmap), ctypes.c_uint64]
    lib.alloc_top_down.restype = ctypes.c_uint64
    lib.alloc_top_down.argtypes = [ctypes.POINTER(Memmap), ctypes.POINTER(Range), ctypes.c_int,
                                   ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64]
    return lib


def fw_memparse(lib, text: str) -> tuple[int, int]:
    buf = ctypes.create_string_buffer(text.encode())
    end = ctypes.c_char_p()
    value = lib.memparse(buf, ctypes.byref(end))
    return value, ctypes.cast(end, ctypes.c_void_p).value - ctypes.addressof(buf)


@pytest.mark.parametrize("text, value, end", [
    ("200M", 200 * MiB, 4), ("0x9180000", 0x9180000, 9), ("0248M", 20, 3), ("4g", 4 << 30, 2),
    ("250000K", 250000 << 10, 7), ("1Mjunk", MiB, 2), ("nopentium", 0, 0), ("0x", 0, 1),
])
def test_memparse_examples(fwlib, text, value, end):
    assert fw_memparse(fwlib, text) == (value, end)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789abcdefxXkKmMgGtTpPeE ", max_size=24))
def test_memparse_matches_the_model(fwlib, text):
    assert fw_memparse(fwlib, text) == model_memparse(text)


entry = st.tuples(st.integers(0, 1 << 30).map(lambda a: a & ~0x3FF),
                  st.integers(1, 1 << 28).map(lambda n: max(n & ~0x3FF, 0x400)),
                  st.sampled_from([1, 1, 1, 2, 3]))


@settings(max_examples=300, deadline=None)
@given(entries=st.lists(entry, max_size=8),
       limit=st.one_of(st.just(1 << 32), st.integers(MiB, 1 << 30)),
       size=st.integers(1, 64 * MiB),
       align_shift=st.integers(12, 24))
def test_allocation_matches_memblock_model(fwlib, entries, limit, size, align_shift):
    align = 1 << align_shift
    mm = Memmap()
    for addr, length, kind in entries:
        fwlib.memmap_add(ctypes.byref(mm), addr, length, kind)
    fwlib.memmap_finish(ctypes.byref(mm), limit)
    reserved = (Range * 2)(Range(0, MiB), Range(*IMAGE))
    got = fwlib.alloc_top_down(ctypes.byref(mm), reserved, 2, size, align, limit)

    model = Memblock()
    for addr, length, kind in entries:
        if kind == 1:
            model.add(addr, length)
    for addr, length, kind in entries:       # e820 sanitising: the higher type wins an overlap
        if kind != 1:
            model.remove(addr, length)
    model.remove(limit, U64 - limit)         # x86 mem=: a maximum address
    model.trim_memory()
    assert [(mm.ram[i].start, mm.ram[i].end) for i in range(mm.nr_ram)] == model.memory
    model.reserve(0, MiB)
    model.reserve(IMAGE[0], IMAGE[1] - IMAGE[0])
    expected = model.find_top_down(size, align, end=limit)
    assert got == (expected or 0)
    if got:
        assert got % align == 0 and got + size <= limit and (got >= IMAGE[1] or got + size <= IMAGE[0])
