"""QEMU killed, stopped and continued, its sockets closed, slow replies, concurrent users.

Each test asserts that no wrong value is returned and that the error says what
happened; the autouse fixture in conftest.py checks that nothing is left behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time

import pytest

from driverkit import Machine, MachineSpec
from driverkit.errors import MachineDied, MachineError, MachineTimeout, QmpError
from driverkit.machine.machine import MachineState

HPET = 0xFED00000
HPET_ID = 0x8086A201
COMPARATOR = 0x108


async def test_slow_replies_within_the_deadline_give_the_right_values():
    async with Machine() as m:
        hpet = m.ioremap(HPET, 0x400)
        m.qtest.timeout = 3.0
        stopper = threading.Timer(0.0, os.kill, (m.process.pid, signal.SIGSTOP))
        waker = threading.Timer(0.4, os.kill, (m.process.pid, signal.SIGCONT))
        stopper.start()
        stopper.join()
        waker.start()
        t0 = time.monotonic()
        assert hpet.readl(0) == HPET_ID  # answered once QEMU runs again
        assert time.monotonic() - t0 >= 0.3
        assert hpet.read_many([0x10, 0, 4], 4) == [0, HPET_ID, 0x00989680]
        waker.join()
        assert m.qtest.stale_replies == 0


async def test_repeated_stop_timeout_continue_never_shifts_a_reply():
    async with Machine() as m:
        hpet = m.ioremap(HPET, 0x400)
        for i in range(5):
            hpet.writel(COMPARATOR, 0x1000 + i)
            m.qtest.timeout = 0.2
            os.kill(m.process.pid, signal.SIGSTOP)
            try:
                with pytest.raises(MachineTimeout, match="readl 0xfed00000"):
                    hpet.readl(0)
            finally:
                os.kill(m.process.pid, signal.SIGCONT)
            m.qtest.timeout = 5.0
            assert hpet.readl(COMPARATOR) == 0x1000 + i
            assert hpet.readl(0x10) == 0
        assert m.qtest.stale_replies == 5


async def test_qemu_killed_with_writes_posted_names_the_write():
    async with Machine() as m:
        hpet = m.ioremap(HPET, 0x400)
        os.kill(m.process.pid, signal.SIGSTOP)  # the writes stay unacknowledged
        for value in range(10):
            hpet.writel(COMPARATOR, value)
        await asyncio.sleep(0.05)  # the loop sends them (any await does)
        m.process.kill()
        with pytest.raises(MachineDied, match=r"posted write 'writel 0xfed00108 0x0'.*signal 9"):
            hpet.readl(0)
        assert m.state is MachineState.DIED


async def test_qtest_socket_closed_says_so_and_the_machine_still_closes():
    async with Machine() as m:
        hpet = m.ioremap(HPET, 0x400)
        m.qtest.sock.shutdown(socket.SHUT_RDWR)
        with pytest.raises(MachineError, match="qtest channel closed.*still runs"):
            hpet.readl(0)
        with pytest.raises(MachineError, match="qtest channel closed"):
            hpet.writel(COMPARATOR, 1)
        assert (await m.execute("query-status"))["status"] == "running"  # QMP still works


async def test_qmp_socket_closed_is_a_qmp_error_not_a_hang():
    async with Machine() as m:
        transport_sock = m.session.held.socks[0]
        transport_sock.shutdown(socket.SHUT_RDWR)
        t0 = time.monotonic()
        with pytest.raises(QmpError):
            await m.execute("query-status", timeout=3.0)
        assert time.monotonic() - t0 < 3.0
        assert m.ioremap(HPET, 8).readl(0) == HPET_ID  # qtest still works


async def test_serial_socket_closed_then_expect_times_out_with_what_it_waited_for():
    async with Machine() as m:
        m.session.held.socks[2].shutdown(socket.SHUT_RDWR)
        with pytest.raises(MachineTimeout, match="serial output matching 'login'"):
            await m.console.expect("login", timeout=0.3)
        assert m.ioremap(HPET, 8).readl(0) == HPET_ID


async def test_qmp_and_qtest_used_concurrently_from_tasks():
    async with Machine(MachineSpec(shared_ram=False)) as m:
        async def qmp_user() -> None:
            for _ in range(30):
                assert (await m.execute("query-status"))["status"] == "running"

        async def qtest_user(i: int) -> None:
            for v in range(200):
                m.qtest.write(0x300000 + 4 * i, 4, v)
                assert m.qtest.read(0x300000 + 4 * i, 4) == v
                if v % 50 == 0:
                    await asyncio.sleep(0)

        async def hmp_user() -> None:
            for i in range(10):
                m.qtest.write(0x310000, 4, 0xAB00 + i)
                assert f"{0xAB00 + i:#010x}" in await m.hmp("xp /1wx 0x310000")

        await asyncio.gather(qmp_user(), hmp_user(), *(qtest_user(i) for i in range(4)))


async def test_threads_hammer_one_machine_while_qemu_is_killed():
    async with Machine() as m:
        hpet = m.ioremap(HPET, 0x400)
        wrong: list[int] = []
        errors: list[BaseException] = []

        def reader() -> None:
            try:
                while True:
                    v = hpet.readl(0)
                    if v != HPET_ID:
                        wrong.append(v)
            except MachineDied as exc:
                errors.append(exc)
            except BaseException as exc:  # anything else is a failure, reported below
                errors.append(exc)

        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        await asyncio.sleep(0.3)
        m.process.kill()
        for t in threads:
            await asyncio.to_thread(t.join, 10)
        assert wrong == []
        assert len(errors) == 3 and all(isinstance(e, MachineDied) for e in errors), errors
