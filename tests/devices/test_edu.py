"""edu driver against real QEMU 7.2: identity, factorial, IRQs, DMA, the 7.2 DMA guard, layout."""

from __future__ import annotations

import pytest
from construct import Int32ul, Int64ul

from driverkit.devices.edu import DMA_MASK, DMA_SAFE_END, ID_RESET, Edu, EduRegs, check_dma_request
from driverkit.errors import DeviceRefused
from driverkit.regs import RW, Register


async def test_layout_check_holds_on_a_fresh_edu(launch):
    async with launch(Edu) as (m, edu):
        report = edu.check()
        assert report.ok, str(report)
        by = {(f.register, f.test): f for f in report.findings}
        assert by[("id", "reset")].observed == ID_RESET
        assert by[("liveness", "writes")].verdict == "agree"
        assert by[("status", "writes")].observed == 0x80  # only irq_on_fact stores
        assert by[("dma_src", "widths")].verdict == "agree"
        destructive = edu.check(destructive=True)  # safe: work registers are never pattern-written
        assert destructive.ok, str(destructive)
        assert m.alive


async def test_wrong_declarations_are_caught_precisely(launch):
    class NoInverse(EduRegs):
        liveness = Register(0x04, Int32ul, RW, reset=0, widths=(4,))

    class SplitDma(EduRegs):  # what the doc's "4 or 8 byte access" suggests
        dma_src = Register(0x80, Int64ul, RW, reset=0, widths=(4, 8))

    async with launch(Edu) as (_, edu):
        [m] = SplitDma.check(edu.regs.iomem).mismatches
        assert (m.register, m.test) == ("dma_src", "widths")
        assert "width 4 read 0xffffffff00000000" in m.note
        [m] = NoInverse.check(edu.regs.iomem).mismatches  # last: it cannot restore liveness
        assert (m.register, m.test) == ("liveness", "writes")
        assert "wrote 0x55555555 expected 0x55555555 read 0xaaaaaaaa" in m.note


async def test_identity_liveness_and_factorial(launch):
    async with launch(Edu) as (_, edu):
        assert edu.version == (1, 0)
        assert edu.alive(0x12345678) and edu.alive(0)
        assert await edu.factorial(10) == 3628800
        assert await edu.factorial(13) == 6227020800 % 2**32  # wraps at 32 bits
        assert await edu.factorial(5, use_irq=True) == 120
        assert edu.irq_status == 0  # acknowledged


async def test_interrupt_raise_and_ack_seen_on_the_intx_line(launch):
    async with launch(Edu) as (m, edu):
        line = await edu.irq_line()
        assert line == edu.pci.irq_line()
        edu.raise_irq(0x40)
        await m.irq.wait_raised(line, 2)
        assert edu.irq_status == 0x40
        edu.ack(0x40)
        await m.irq.wait_lowered(line, 2)
        assert edu.irq_status == 0 and m.irq.counts[line] == 1


async def test_dma_both_directions(launch):
    async with launch(Edu) as (m, edu):
        pattern = bytes((i * 7 + 3) & 0xFF for i in range(512))
        with m.dma.alloc(512, dma_mask=DMA_MASK) as out, \
                m.dma.alloc(512, dma_mask=DMA_MASK) as back:
            out.write(pattern)
            await edu.dma_to_device(out, dev_offset=0x200)
            await edu.dma_from_device(back, dev_offset=0x200, use_irq=True)
            assert back.read() == pattern
        # the largest transfer QEMU 7.2 survives: 4095 bytes from offset 0
        with m.dma.alloc(DMA_SAFE_END, dma_mask=DMA_MASK) as big:
            await edu.dma_from_device(big)
            assert big.read(0x200, 512) == pattern


async def test_dma_touching_the_last_buffer_byte_is_refused_before_the_device(launch):
    async with launch(Edu) as (m, edu):
        m.trace.clear()
        with m.dma.alloc(0x1000, dma_mask=DMA_MASK) as buf:
            with pytest.raises(DeviceRefused, match=r"last byte of the 4 KiB buffer.*8\.2\.1"):
                await edu.dma_from_device(buf)  # 4096 bytes would abort QEMU 7.2
            with pytest.raises(DeviceRefused, match=r"0x10 bytes at buffer offset 0xff0"):
                await edu.dma_to_device(buf, 0x10, dev_offset=0xFF0)
        assert not [e for e in m.trace if e.op == "write"]  # nothing reached the device
        assert m.alive and edu.alive()


@pytest.mark.parametrize("offset,count", [(0, 0), (-1, 4), (0xFFE, 2), (0, 0x1000)])
def test_dma_guard_limits(offset, count):
    with pytest.raises(DeviceRefused):
        check_dma_request(offset, count, 0x100000)


def test_dma_guard_allows_up_to_the_byte_before_last():
    check_dma_request(0xFFE, 1, 0x100000)
    check_dma_request(0, 0xFFF, 0x100000)
    with pytest.raises(DeviceRefused, match="dma_mask"):
        check_dma_request(0, 16, 1 << 28)
