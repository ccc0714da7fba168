"""The arm64 validation matrix: real boots of the arm64 guest on virt, each compared with
plan_arm64 row by row (driverkit.guest.memcheck_arm64). Sizes, mem=, cma=, crashkernel=
and /reserved-memory nodes (no-map, plain, reusable CMA pool, coherent DMA pool), with
dkprobe probes on the carve-outs. ~2-5 s per boot under TCG.
"""

from __future__ import annotations

import json

import pytest

from driverkit.guest.memcheck_arm64 import memcheck_arm64
from driverkit.mem.dt import ReservedNode

MiB = 1 << 20
NOMAP = ReservedNode("carve@4e000000", 8 * MiB, 0x4E000000, no_map=True)
POOL = ReservedNode("dkpool", 16 * MiB, None, reusable=True, compatible="shared-dma-pool",
                    alignment=4 * MiB)
DMAPOOL = ReservedNode("dma@4d000000", 4 * MiB, 0x4D000000, no_map=True,
                       compatible="shared-dma-pool")
PLAIN = ReservedNode("keep@4c000000", 1 * MiB, 0x4C000000)

MATRIX = {
    "256M": ("256M", "", [], ["0x48000000:4K"]),
    "512M": ("512M", "", [], []),
    "512M nokaslr": ("512M", "nokaslr", [], []),
    "768M mem=600M": ("768M", "mem=600M", [], ["0x6f000000:4K"]),
    "1G cma=0": ("1G", "cma=0", [], []),
    "256M cma=32M crashkernel=32M": ("256M", "cma=32M crashkernel=32M", [], []),
    "2G crashkernel=128M": ("2G", "crashkernel=128M", [], []),
    "512M mem=300M crashkernel=64M": ("512M", "mem=300M crashkernel=64M", [], []),
    "4G (swiotlb, ZONE_NORMAL)": ("4G", "", [], []),
    "256M no-map carve-out": ("256M", "", [NOMAP], ["0x4e000000:4K", "0x4e7ff000:4K"]),
    "256M reusable CMA pool": ("256M", "cma=16M", [POOL], []),
    "256M DMA pool + plain reservation": ("256M", "", [DMAPOOL, PLAIN],
                                          ["0x4d000000:4K", "0x4c000000:4K"]),
}


@pytest.fixture(scope="module")
def artifacts(arm64_guest):
    return arm64_guest


@pytest.mark.parametrize("name", list(MATRIX))
async def test_arm64_model_agrees_with_the_kernel(artifacts, name):
    memory, cmdline, nodes, probes = MATRIX[name]
    if not artifacts.has_probe:
        probes = []
    check = await memcheck_arm64(memory, cmdline, probes if artifacts.has_probe else [],
                                 reserved=nodes, artifacts=artifacts, timeout=120.0)
    counted = [r for r in check.rows if r.counted]
    assert len(counted) >= 20, check.to_text()
    assert check.agree, check.to_text()
    # the rows that matter for the carve-outs were really compared
    sections = {r.section for r in counted}
    assert {"iomem", "zones", "memory", "log"} <= sections
    if "nokaslr" in cmdline:  # no virtual KASLR: the page-table count is exact
        assert not [r for r in check.rows if "KASLR" in r.note], check.to_text()


def test_memcheck_cli_arch_aarch64(artifacts, capsys):
    from driverkit.cli import main

    rc = main(["memcheck", "--arch", "aarch64", "--memory", "256M", "--cmdline", "cma=24M",
               "--reserved-memory", "carve:4M@0x4f000000,no-map", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["agree"], out["rows"]
    assert out["model"]["reserved_memory"][0]["placed_at"] == 0x4F000000


def test_memcheck_cli_refuses_bad_arm64_input_before_booting(capsys):
    from driverkit.cli import main

    for argv, why in ((["--cmdline", "memmap=8M$0x4e000000"], "arm64 has no memmap="),
                      (["--reserved-memory", "k:8M@0x40400000,no-map"], "kernel image"),
                      (["--machine", "q35"], "boots on virt")):
        assert main(["memcheck", "--arch", "aarch64", *argv, "--json"]) == 2
        assert why in json.loads(capsys.readouterr().out)["error"]
