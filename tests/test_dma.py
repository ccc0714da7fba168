"""DMA buffers on real QEMU: pool placement, Python access, edu RAM->device->RAM, leaks."""

from __future__ import annotations

import asyncio
import gc

import pytest

from driverkit import Machine, MachineSpec
from driverkit.errors import BoundsError, DmaError
from driverkit.io.dma import DmaLeakWarning

EDU = (0x1234, 0x11E8)
EDU_BUF = 0x40000
DMA_SRC, DMA_DST, DMA_CNT, DMA_CMD = 0x80, 0x88, 0x90, 0x98
CMD_START, CMD_TO_RAM, CMD_IRQ = 0x1, 0x2, 0x4


async def _edu_dma(bar, src: int, dst: int, n: int, cmd: int) -> None:
    bar.writeq(DMA_SRC, src)
    bar.writeq(DMA_DST, dst)
    bar.writeq(DMA_CNT, n)
    bar.writeq(DMA_CMD, cmd | CMD_START)
    for _ in range(300):  # 100 ms of virtual time per transfer
        if not bar.readq(DMA_CMD) & CMD_START:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("edu DMA never finished")


async def test_edu_dma_round_trip_through_pool_buffers():
    async with Machine(MachineSpec(devices=["edu"])) as m:
        edu = m.pci.find(*EDU)
        edu.enable()  # bus mastering on
        bar = edu.iomap(0)
        payload = bytes((i * 7 + 3) & 0xFF for i in range(4095))  # 4095: 7.2 aborts on 4096
        with m.dma.alloc(4096, 4096, name="to device") as src, \
                m.dma.alloc(4096, 4096, name="from device") as dst:
            assert src.phys + src.size <= 1 << 28 and dst.phys + dst.size <= 1 << 28  # edu mask
            assert src.phys % 4096 == 0
            src.write(payload)
            assert dst.read() == bytes(4096)  # zeroed on alloc
            await _edu_dma(bar, src.phys, EDU_BUF, len(payload), 0)
            await m.irq.intercept_controller()
            await _edu_dma(bar, EDU_BUF, dst.phys, len(payload), CMD_TO_RAM | CMD_IRQ)
            await m.irq.wait_raised(edu.irq_line(), timeout=2.0)
            assert bar.readl(0x24) & 0x100
            assert dst.read(0, len(payload)) == payload
            assert dst.read(len(payload), 1) == b"\0"  # nothing past the count
            bar.writel(0x64, 0x100)
        assert m.dma.buffers == []


async def test_buffers_are_placed_reserved_and_checked():
    async with Machine(MachineSpec(memory="256M")) as m:
        a = m.dma.alloc(100)
        start, size = m.dma.region
        assert (start, size) == (0x0FC00000, 4 << 20)  # top 4 MiB of low RAM
        assert "driverkit DMA pool" in m.iomem()
        b = m.dma.alloc(0x1000, 0x1000)
        assert b.phys % 0x1000 == 0 and b.phys >= a.phys + 100
        b.write(b"hello", 0x10)
        assert m.read_phys(b.phys + 0x10, 5) == b"hello"
        assert b.read(0x10, 5) == b"hello"
        with pytest.raises(BoundsError):
            b.read(0xFFE, 4)
        with pytest.raises(BoundsError):
            b.write(b"xx", 0x1000)
        b.free()
        with pytest.raises(DmaError, match="double free"):
            b.free()
        with pytest.raises(DmaError, match="after free"):
            b.read()
        with pytest.raises(DmaError, match="DMA mask 0xffffff"):
            m.dma.alloc(64, dma_mask=0xFFFFFF)  # the pool sits above 16 MiB
        with pytest.raises(DmaError, match="cannot allocate"):
            m.dma.alloc(8 << 20)
        a.free()


async def test_use_region_takes_a_caller_carve_out_and_refuses_non_ram():
    async with Machine(MachineSpec(memory="256M")) as m:
        with pytest.raises(DmaError, match="not all RAM"):
            m.dma.use_region(0xFE000000, 0x100000)
        with pytest.raises(DmaError, match="page-aligned"):
            m.dma.use_region(0x1000100, 0x1000)
        m.dma.use_region(0x01000000, 0x00100000)
        with m.dma.alloc(256) as buf:
            assert 0x01000000 <= buf.phys < 0x01100000
            with pytest.raises(DmaError, match="still allocated"):
                m.dma.use_region(0x02000000, 0x100000)


async def test_unfreed_buffers_are_reported_with_their_allocation_site():
    m = Machine(MachineSpec())
    async with m:
        m.dma.alloc(32, name="forgotten")
        kept = m.dma.alloc(32)
        kept.free()
        with pytest.warns(DmaLeakWarning, match=r"forgotten allocated at .*test_dma.py:\d+") as w:
            await m.close()
    assert len(w) == 1 and "1 DMA buffer" in str(w[0].message)
    gc.collect()
