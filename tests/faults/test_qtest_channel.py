"""The qtest channel under faults: late replies, posted writes, pipelined reads, desync.

Every test runs real QEMU. QEMU is stopped (SIGSTOP) so a reply misses its
deadline and arrives later; the channel must account for it and never hand it
to the next command, and nothing may be raised from event-loop callbacks.
"""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import threading

import pytest
import pytest_asyncio

from driverkit import Machine, MachineSpec
from driverkit.errors import AlignmentError, MachineDied, MachineTimeout, QtestError

HPET = 0xFED00000
HPET_ID = 0x8086A201
HPET_PERIOD = 0x00989680  # capabilities bits 63:32, the 10 ns counter period in fs


@pytest_asyncio.fixture
async def loop_errors():
    """Exceptions the event loop saw in callbacks (must stay empty)."""
    seen: list[dict] = []
    loop = asyncio.get_running_loop()
    old = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: seen.append(ctx))
    yield seen
    loop.set_exception_handler(old)


def _stop_for_a_timeout(m: Machine, action) -> None:
    m.qtest.timeout = 0.3
    os.kill(m.process.pid, signal.SIGSTOP)
    try:
        with pytest.raises(MachineTimeout, match="qtest"):
            action()
    finally:
        os.kill(m.process.pid, signal.SIGCONT)
    m.qtest.timeout = 5.0


async def test_late_reply_after_a_timeout_is_dropped_not_handed_on(loop_errors):
    async with Machine() as m:
        hpet = m.ioremap(HPET, 0x400)
        _stop_for_a_timeout(m, lambda: hpet.readl(0))
        # QEMU answers the abandoned readl(0) first; that reply must not become readl(0x10)'s.
        assert hpet.readl(0x10) == 0
        assert hpet.readl(0x4) == HPET_PERIOD
        assert m.qtest.stale_replies == 1
        assert hpet.readl(0) == HPET_ID
    assert loop_errors == []


async def test_late_reply_read_by_the_event_loop_raises_nothing(loop_errors):
    async with Machine() as m:
        hpet = m.ioremap(HPET, 0x400)
        _stop_for_a_timeout(m, lambda: hpet.readl(0))
        for _ in range(50):  # the loop's reader takes the late reply while nobody waits
            await asyncio.sleep(0.01)
            if m.qtest.stale_replies:
                break
        assert m.qtest.stale_replies == 1
        assert loop_errors == []
        assert hpet.readl(0x10) == 0
        assert [hpet.readl(0), hpet.readl(4)] == [HPET_ID, HPET_PERIOD]


async def test_timeout_in_a_pipelined_batch_drops_every_late_reply(loop_errors):
    async with Machine() as m:
        hpet = m.ioremap(HPET, 0x400)
        _stop_for_a_timeout(m, lambda: hpet.read_many([0, 4] * 300, 4))
        abandoned = m.qtest.owed  # the reads already sent when the deadline passed
        assert 0 < abandoned <= 600
        assert hpet.read_many([0x10, 4, 0], 4) == [0, HPET_PERIOD, HPET_ID]
        assert m.qtest.stale_replies == abandoned and m.qtest.owed == 0
    assert loop_errors == []


async def test_a_reply_nobody_asked_for_makes_the_channel_unusable_with_a_clear_error(
        loop_errors):
    async with Machine() as m:
        hpet = m.ioremap(HPET, 0x400)
        m.qtest.sock.send(b"readl 0xfed00000\n")  # a foreign writer on the channel
        await asyncio.sleep(0.2)
        assert loop_errors == []
        with pytest.raises(QtestError, match="no command pending.*unusable"):
            hpet.readl(0x10)
        with pytest.raises(QtestError, match="unusable"):
            hpet.readl(0)


# --- posted writes ---------------------------------------------------------------------------


async def test_posted_writes_then_read_sees_every_write_in_order():
    async with Machine() as m:
        hpet = m.ioremap(HPET, 0x400)
        comparator = 0x108  # timer 0 comparator (32-bit access)
        for value in range(1, 1001):
            hpet.writel(comparator, value)
        assert m.qtest.owed > 0  # really posted: not all acknowledged yet
        assert hpet.readl(comparator) == 1000
        hpet.writel(0x10, 1)  # ENABLE_CNF: the main counter runs
        assert hpet.readl(0x10) == 1
        hpet.writel(0x10, 0)
        assert hpet.read_many([0x10, 0, 4, comparator], 4) == [0, HPET_ID, HPET_PERIOD, 1000]


async def test_read_many_matches_single_reads_across_window_boundaries():
    async with Machine() as m:
        hpet = m.ioremap(HPET, 0x400)
        offsets = [(i * 4) % 0x20 for i in range(1000)]
        single = {off: hpet.readl(off) for off in set(offsets)}
        assert hpet.read_many(offsets, 4) == [single[o] for o in offsets]
        assert hpet.read_many([], 4) == []
        with pytest.raises(AlignmentError, match="not aligned"):
            hpet.read_many([0, 4], 8)  # checked before anything is sent
        assert hpet.readl(0) == HPET_ID


def _bswap32(v: int) -> int:
    return int.from_bytes(v.to_bytes(4, "little"), "big")


async def test_posted_write_that_starts_a_dma_is_done_before_shared_ram_is_read():
    # fw_cfg DMA runs synchronously inside QEMU's handling of the low address write.
    async with Machine() as m:
        assert m.shm is not None
        ram = m.ioremap(0x200000, 0x1000)  # shared RAM: read without qtest
        for _ in range(20):
            ram.write(0, struct.pack(">IIQ", (0 << 16) | 0x08 | 0x02, 4, 0x200000 + 0x100))
            ram.write(0x100, b"\0\0\0\0")
            m.qtest.pio_write(0x514, 4, 0)  # high half of the descriptor address
            m.qtest.pio_write(0x518, 4, _bswap32(0x200000))  # low half: the DMA runs
            assert ram.read(0x100, 4) == b"QEMU"  # key 0: the signature
            assert ram.read(0, 4) == b"\0\0\0\0"  # control cleared: done without error


async def test_posted_write_is_done_before_a_qmp_command():
    # Without shared RAM a RAM write goes through qtest; HMP xp reads RAM through QMP.
    async with Machine(MachineSpec(shared_ram=False)) as m:
        for i in range(1, 65):
            m.qtest.write(0x300000, 4, 0xC0DE0000 + i)
            out = await m.hmp("xp /1wx 0x300000")
            assert f"{0xC0DE0000 + i:#010x}" in out


async def test_posted_write_that_kills_qemu_is_named_at_the_drain():
    # isa-debug-exit ends QEMU inside the write: the error names that write.
    spec = MachineSpec(devices=["isa-debug-exit,iobase=0xf4,iosize=4"])
    async with Machine(spec) as m:
        m.qtest.pio_write(0xF4, 1, 0x20)
        with pytest.raises(MachineDied, match=r"posted write 'outb 0xf4 0x20'") as info:
            m.ioremap(HPET, 8).readl(0)
        assert info.value.returncode == (0x20 << 1) | 1


async def test_posted_writes_and_reads_from_several_threads_and_tasks():
    async with Machine() as m:
        hpet = m.ioremap(HPET, 0x400)
        errors: list[BaseException] = []

        def worker(timer: int) -> None:
            reg = 0x108 + 0x20 * timer  # each thread owns one timer's comparator
            try:
                for value in range(1, 400):
                    hpet.writel(reg, value)
                    assert hpet.readl(reg) == value
                    assert hpet.readl(0) == HPET_ID
            except BaseException as exc:  # reported below
                errors.append(exc)

        async def task(timer: int) -> None:
            for _ in range(100):
                assert hpet.read_many([0, 4], 4) == [HPET_ID, HPET_PERIOD]
                await asyncio.sleep(0)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(3)]
        for t in threads:
            t.start()
        await asyncio.gather(*(task(t) for t in range(3)))
        for t in threads:
            await asyncio.to_thread(t.join, 30)
        assert errors == []
        assert [hpet.readl(0x108 + 0x20 * t) for t in range(3)] == [399] * 3


async def test_register_map_reads_many_registers_pipelined():
    from construct import Int32ul, Int64ul

    from driverkit.regs import RO, RW, Register, RegisterMap

    class Hpet(RegisterMap):
        cap = Register(0x000, Int64ul, RO)
        config = Register(0x010, Int32ul, RW)
        isr = Register(0x020, Int32ul, RW)
        t0_config = Register(0x100, Int32ul, RW)
        t0_comparator = Register(0x108, Int32ul, RW)
        t1_comparator = Register(0x128, Int32ul, RW)

    async with Machine() as m:
        regs = Hpet(m.ioremap(HPET, 0x400))
        regs.t1_comparator.write(0x4321)
        one_by_one = {r.path: r.read() for r in regs.registers()}
        batches: list[int] = []
        real_exchange = m.qtest.exchange

        def counting(wires, what):  # a spy on the real channel: counts pipelined batches
            batches.append(len(wires))
            return real_exchange(wires, what)

        m.qtest.exchange = counting
        assert regs.read_all() == one_by_one
        assert one_by_one["cap"] == 0x009896808086A201 and one_by_one["t1_comparator"] == 0x4321
        assert batches == [1, 5]  # the 64-bit register, then the five 32-bit ones at once
        batches.clear()
        text = str(regs)  # the decoded dump reads the same way
        assert "t1_comparator  RW  0x00004321" in text
        assert batches == [1, 5]
