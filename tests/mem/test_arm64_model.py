"""The arm64 model without booting: the Image reader, device trees (pylibfdt), QEMU virt's
loader placement, and bad input refused before any boot. QEMU runs only to dump its DTB.
The agreement with real boots is tests/memcheck/test_matrix_arm64.py."""

from __future__ import annotations

import json
import os

import pytest

from driverkit.errors import (
    CmdlineError,
    ConfigError,
    DeviceTreeError,
    NotAKernelImage,
    ReservedMemoryError,
)
from driverkit.machine.dtb import virt_dtb
from driverkit.mem.arm64 import Arm64Image, NotAnArm64Image, plan_arm64, virt_layout
from driverkit.mem.arm64.boot import pgtable_pages
from driverkit.mem.dt import DeviceTree, ReservedNode
from driverkit.mem.kernel import read_kernel

MiB = 1 << 20


@pytest.fixture(scope="module")
def art(arm64_guest):
    return arm64_guest


@pytest.fixture(scope="module")
def virt256():
    return DeviceTree.load(virt_dtb("256M"))


def plan(art, tree, cmdline="", probes=(), memory="256M", **kw):
    return plan_arm64(memory, cmdline, probes, kernel=art.kernel, kernel_config=art.config,
                      dtb=tree, initrd_size=os.path.getsize(art.initrd), **kw)


def test_the_image_header_and_pe_sections(art):
    img = Arm64Image.read(art.kernel)
    assert img.release.endswith("-cloud-arm64") and img.page_size == 4096
    assert not img.big_endian
    assert img.stext == 0x10000  # SEGMENT_ALIGN after .head.text
    assert img.stext < img.initdata_begin < img.edata <= img.end == img.image_size
    assert {"page", "pglist_data", "device_node", "property", "percpu_static"} <= set(img.sizes)
    desc = read_kernel(art.kernel, arch="arm64")  # the kernel-description interface
    assert (desc.arch, desc.release) == ("arm64", img.release) and desc.version[:2] == (6, 1)


def test_not_an_arm64_image(tmp_path):
    bz = tmp_path / "bzImage"
    bz.write_bytes(b"\0" * 0x202 + b"HdrS" + b"\0" * 100)
    with pytest.raises(NotAnArm64Image, match="an x86 bzImage"):
        Arm64Image.read(bz)
    short = tmp_path / "short"
    short.write_bytes(b"MZ")
    with pytest.raises(NotAKernelImage):
        read_kernel(short, arch="arm64")


def test_qemu_dtb_is_read_with_libfdt(virt256):
    assert virt256.memory == [(0x40000000, 256 * MiB)]
    assert virt256.totalsize == 1 * MiB  # QEMU's generated tree; the kernel reserves it all
    names = {d.name for d in virt256.devices()}
    assert {"pl011@9000000", "pcie@10000000"} <= names


def test_a_dtb_that_is_not_one(tmp_path, virt256):
    with pytest.raises(DeviceTreeError, match="not a device tree blob"):
        DeviceTree.load(b"hello world" * 10)
    with pytest.raises(DeviceTreeError, match="truncated"):
        DeviceTree.load(virt256.blob[:4096])
    with pytest.raises(DeviceTreeError, match="No such file"):
        DeviceTree.load(tmp_path / "missing.dtb")


def test_reserved_memory_nodes_round_trip(virt256):
    tree = ReservedNode.parse("carve:8M@0x4e000000,no-map").add_to(virt256)
    tree = ReservedNode.parse("pool:16M,reusable,shared-dma-pool,align=4M").add_to(tree)
    regions = {r.name: r for r in tree.reserved_memory}
    assert regions["carve@4e000000"].kind == "no-map"
    assert (regions["carve@4e000000"].start, regions["carve@4e000000"].size) == (
        0x4E000000, 8 * MiB)
    assert regions["pool"].kind == "cma" and regions["pool"].alignment == 4 * MiB
    assert tree.totalsize < 16 << 10  # packed: QEMU sizes a -dtb from the file
    with pytest.raises(ReservedMemoryError, match="exclude"):
        virt256.with_reserved_memory("x", MiB, 0x4E000000, no_map=True, reusable=True)
    with pytest.raises(ReservedMemoryError, match="unknown flag"):
        ReservedNode.parse("x:1M@0x4e000000,nomap")
    with pytest.raises(ReservedMemoryError, match="NAME:SIZE"):
        ReservedNode.parse("8M@0x4e000000")


def test_qemu_loader_placement():
    lay = virt_layout((0x40000000, 256 * MiB), 0, 0x1AB0000, 995252, 1 * MiB)
    assert lay.kernel == (0x40200000, 0x41CB0000)  # text_offset 0 < 4K stub: +2 MiB
    assert lay.initrd == (0x48000000, 0x48000000 + 995252)  # base + min(RAM/2, 128M)
    assert lay.dtb == (0x48200000, 0x48300000)  # after the initrd, 2 MiB aligned
    small = virt_layout((0x40000000, 64 * MiB), 0, 0x1AB0000, 4096, 1 * MiB)
    assert small.initrd[0] == 0x42000000  # RAM/2
    with pytest.raises(ConfigError, match="inside the kernel image"):
        virt_layout((0x40000000, 32 * MiB), 0, 0x1AB0000, 4096, 1 * MiB)


def test_page_tables_one_per_2m_and_per_1g_plus_five():
    assert pgtable_pages([(0x40000000, 0x50000000)]) == 128 + 1 + 5
    assert pgtable_pages([(0x40000000, 0x140000000)]) == 2048 + 4 + 5


def test_the_model_says_where_carve_outs_land(art, virt256):
    tree = ReservedNode.parse("carve:8M@0x4e000000,no-map").add_to(virt256)
    tree = ReservedNode.parse("pool:16M,reusable,shared-dma-pool,align=4M").add_to(tree)
    mp = plan(art, tree, "crashkernel=32M", ["0x4e000000:4K", "0x48000000:4K"],
              dtb_is_file=True)
    lines = mp.iomem_text().splitlines()
    assert "4e000000-4e7fffff : reserved" in lines  # no-map: top level, not System RAM
    assert "Reserved memory: created CMA memory pool at 0x000000004f000000, size 16 MiB" in \
        mp.state.log
    crash = [c for c in mp.state.carveouts if c.name == "Crash kernel"]
    assert crash and crash[0].start % (2 * MiB) == 0 and crash[0].start + crash[0].size <= \
        mp.state.dma_limit
    carve, ram = mp.probes
    assert (carve.ram, carve.ioremap, carve.request_mem_region) == ("none", "ok", "ok")
    assert (ram.ram, ram.ioremap, ram.memremap) == ("all", "fail", "ok")
    assert mp.to_dict()["reserved_memory"][0]["outcome"] in ("no-map", "cma")


def test_cma_0_and_a_cmdline_cma_replacing_the_default(art, virt256):
    assert not [c for c in plan(art, virt256, "cma=0").state.carveouts if c.name == "cma"]
    cma = [c for c in plan(art, virt256, "cma=32M").state.carveouts if c.name == "cma"]
    assert [c.size for c in cma] == [32 * MiB]


@pytest.mark.parametrize("node, why", [
    ("bad:8M@0x60000000,no-map", "not inside RAM"),
    ("k:8M@0x40400000,no-map", "overlaps the kernel image"),
    ("k:1M@0x41000000", "overlaps the kernel image"),
    ("d:1M@0x48200000", "overlaps QEMU's DTB"),
])
def test_bad_reserved_memory_is_refused_before_boot(art, virt256, node, why):
    tree = ReservedNode.parse(node).add_to(virt256)
    with pytest.raises(ReservedMemoryError, match=why):
        plan(art, tree, dtb_is_file=True)
    lenient = plan(art, tree, dtb_is_file=True, strict=False)
    assert any(why in w for w in lenient.warnings)


def test_memmap_and_probes_outside_ram_are_refused(art, virt256):
    with pytest.raises(CmdlineError, match="arm64 has no memmap="):
        plan(art, virt256, "memmap=8M$0x4e000000")
    with pytest.raises(ConfigError, match="external abort"):
        plan(art, virt256, probes=["0x50000000:4K"])
    with pytest.raises(ConfigError, match="describes 256 MiB of RAM but the machine has 512"):
        plan(art, virt256, memory="512M")


def test_memplan_cli_arch_aarch64(art, capsys):
    from driverkit.cli import main

    rc = main(["memplan", "--arch", "aarch64", "--memory", "512M", "--cmdline",
               "crashkernel=64M", "--reserved-memory", "carve:8M@0x5e000000,no-map",
               "--probe", "0x5e000000:4K", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["arch"] == "aarch64"
    assert out["reserved_memory"][0]["placed_at"] == 0x5E000000
    assert {c["name"] for c in out["carveouts"]} >= {"cma", "Crash kernel"}
    assert out["probes"][0]["ioremap"] == "ok"
    for argv, why in ((["--cmdline", "memmap=8M$0x4e000000"], "arm64 has no memmap="),
                      (["--reserved-memory", "x:8M@0x60000000,no-map"], "not inside RAM"),
                      (["--dtb", "/etc/hostname"], "not a device tree blob")):
        assert main(["memplan", "--arch", "aarch64", *argv, "--json"]) == 2
        assert why in json.loads(capsys.readouterr().out)["error"]
    assert main(["memplan", "--reserved-memory", "x:8M@0x60000000", "--json"]) == 2
    assert "for --arch aarch64" in json.loads(capsys.readouterr().out)["error"]
