"""ioremap, shared RAM routing, PCI BAR assignment and every kind of bad input, on real QEMU."""

from __future__ import annotations

import pytest

from driverkit import Machine, MachineSpec
from driverkit.errors import (
    AlignmentError,
    BoundsError,
    InvalidWidth,
    MappingError,
    ResourceBusy,
    UnbackedError,
    ValueRangeError,
    WidthError,
)

HPET = 0xFED00000


async def test_hpet_capabilities_on_q35():
    async with Machine(MachineSpec(machine="q35")) as m:
        hpet = m.ioremap(HPET, 0x400)
        assert hpet.readl(0) == 0x8086A201
        assert hpet.readq(0) == 0x009896808086A201
        assert hpet.readl_be(0) == 0x01A28680
        assert m.backing(HPET) == "MMIO"


async def test_ram_qtest_and_shared_memory_see_each_other():
    async with Machine() as m:
        ram = m.ioremap(0x200000, 0x2000)
        assert m.space.route(ram) == "shm"
        ram.writeq(8, 0x1122334455667788)
        assert m.qtest.read(0x200008, 8) == 0x1122334455667788
        m.qtest.write_bytes(0x201000, b"from qtest")
        assert ram.read(0x1000, 10) == b"from qtest"
        ram.memset(0x100, 0xA5, 16)
        assert m.qtest.read_bytes(0x200100, 16) == b"\xa5" * 16


async def test_shared_ram_translation_across_the_4g_split():
    # q35 with >= 2.75 GiB puts 2 GiB below 4G and the rest at 0x1_0000_0000.
    async with Machine(MachineSpec(machine="q35", memory="3G")) as m:
        assert m.shm.offset(0x7FFFF000, 8) == 0x7FFFF000
        assert m.shm.offset(0x100000000, 8) == 0x80000000
        high = m.ioremap(0x100000000, 0x1000)
        assert m.space.route(high) == "shm"
        high.writel(0, 0xCAFEF00D)
        assert m.qtest.read(0x100000000, 4) == 0xCAFEF00D
        assert int.from_bytes(m.shm.mm[0x80000000:0x80000004], "little") == 0xCAFEF00D
        m.qtest.write(0x13FFFFFF8, 8, 0x0123456789ABCDEF)
        assert m.ioremap(0x13FFFF000, 0x1000).readq(0xFF8) == 0x0123456789ABCDEF
        with pytest.raises(UnbackedError):
            m.ioremap(0x80000000, 0x1000)  # the PCI hole has no RAM


async def test_edu_id_through_a_bar_the_framework_assigned():
    async with Machine(MachineSpec(devices=["edu"])) as m:
        dev = m.pci.find(vendor=0x1234, device=0x11E8)
        bar = dev.bars[0]
        assert bar.kind == "mem" and bar.size == 1 << 20 and bar.address
        dev.enable()
        bar0 = dev.iomap(0)
        assert m.space.route(bar0) == "qtest"
        assert bar0.readl(0) == 0x010000ED
        bar0.writel(4, 0x12345678)
        assert bar0.readl(4) == ~0x12345678 & 0xFFFFFFFF
        assert f"0000:{dev.address}" in m.iomem()


async def test_bad_inputs_raise_their_own_errors_and_qemu_survives():
    async with Machine() as m:
        hpet = m.ioremap(HPET, 0x400)
        with pytest.raises(AlignmentError):
            hpet.readl(2)
        with pytest.raises(BoundsError):
            hpet.readl(0x400)
        with pytest.raises(BoundsError):
            hpet.readl(-4)
        with pytest.raises(WidthError):
            hpet.read_width(0, 3)
        with pytest.raises(ValueRangeError):
            hpet.writeb(0x10, 0x100)
        with pytest.raises(ValueRangeError):
            hpet.writel(0x10, -1)
        with pytest.raises(UnbackedError, match="0x50000000"):
            m.ioremap(0x50000000, 0x1000)
        with pytest.raises(MappingError):
            m.ioremap(0x1000, 0)
        with pytest.raises(BoundsError):
            m.ioremap((1 << 64) - 0x1000, 0x2000)
        with pytest.raises(BoundsError):
            m.qtest.pio_write(0x10000, 1, 0)  # would abort QEMU if sent
        with pytest.raises(WidthError):
            m.qtest.pio_read(0x80, 8)
        region = m.request_mem_region(HPET, 0x400, "hpet driver")
        with pytest.raises(ResourceBusy, match="hpet driver"):
            m.request_mem_region(HPET + 0x100, 0x10, "second driver")
        with pytest.raises(ResourceBusy, match="System RAM"):
            m.request_mem_region(0x100000, 0x1000, "steal RAM")
        m.release_mem_region(region)
        m.request_mem_region(HPET + 0x100, 0x10, "second driver")
        m.iounmap(hpet)
        with pytest.raises(MappingError):
            hpet.readl(0)
        with pytest.raises(MappingError):
            m.iounmap(hpet)
        # QEMU is still alive and answering after all of that.
        assert m.ioremap(HPET, 8).readl(0) == 0x8086A201
        assert (await m.execute("query-status"))["status"] == "running"


async def test_unbacked_allowed_explicitly_and_page_granular():
    async with Machine() as m:
        io = m.ioremap(0x50000124, 0x10, allow_unbacked=True)
        with pytest.raises(InvalidWidth, match="at 0x50000124: nothing is mapped there"):
            io.readl(0)  # QEMU answers 0 over qtest, and logs that nothing took the read
        m.check_accesses(None)
        assert io.readl(0) == 0  # unchecked: QEMU's 0, as it answered
        m.check_accesses("error")
        assert io.page_range == (0x50000000, 0x1000)
        with pytest.raises(AlignmentError, match="0x50000126"):
            io.readl(2)
        assert m.ioremap(0x1FF8, 0x10).page_range == (0x1000, 0x2000)


async def test_resource_tree_renders_like_proc_iomem():
    async with Machine() as m:
        m.request_mem_region(HPET, 0x400, "hpet")
        text = m.iomem()
        assert "00100000-0fffffff : System RAM\n" in text
        assert "fed00000-fed003ff : hpet\n  fed00000-fed003ff : hpet\n" in text


async def test_ioport_map_reads_fw_cfg_signature():
    async with Machine() as m:
        fw = m.ioport_map(0x510, 2)
        fw.writew(0, 0x0000)  # select the signature key
        assert bytes(fw.readb(1) for _ in range(4)) == b"QEMU"


async def test_raw_qtest_widths_are_checked_also_once_the_register_is_cached():
    """(a, True) == (a, 1) and (a, 4.0) == (a, 4) as cache keys: a warm register must not let
    a bool or float width through where a cold one refused it."""
    async with Machine(MachineSpec()) as m:
        assert m.qtest.read(HPET, 4) == 0x8086A201
        for width in (4.0, True):
            with pytest.raises(WidthError):
                m.qtest.read(HPET, width)  # type: ignore[arg-type]
        m.qtest.write(HPET + 0x10, 4, 0)
        with pytest.raises(WidthError):
            m.qtest.write(HPET + 0x10, 4.0, 0)  # type: ignore[arg-type]
        assert m.alive
