"""Guest memory: bulk RAM reads against a host memcpy of the same size, ROM bulk reads
against raw qtest b64read, and what keeping the routing current costs (one re-read of
`info mtree -f`) against one qtest round trip."""

from __future__ import annotations

import base64
import socket
import statistics
import time
from typing import Callable

from driverkit import Machine, MachineSpec
from driverkit.errors import MachineError

from . import Samples, figure, paired

RAM_BYTES = 64 << 20
RAM_AT = 0x1000000  # 16 MiB: clear of the firmware and the default DMA pool
ROM_AT, ROM_BYTES = 0xFFFF0000, 0x10000  # the firmware ROM (64 KiB, the top of 4 GiB)
REREADS = 50


def _memcpy_new(src: bytearray) -> float:
    """bytes(src): a host memcpy into a freshly allocated object, like IoMem.read returns."""
    t0 = time.perf_counter()
    out = bytes(src)
    dt = time.perf_counter() - t0
    assert len(out) == len(src)
    return len(src) / dt


def _memcpy_into(src: bytearray, dst: bytearray) -> float:
    """dst[:] = src: a host memcpy into a buffer that exists already, like readinto."""
    t0 = time.perf_counter()
    memoryview(dst)[:] = src
    return len(src) / (time.perf_counter() - t0)


@figure("IoMem.read 64 MiB RAM (shared memory)", unit="B/s",
        baseline="host memcpy of 64 MiB into a new bytes", at_least=0.5)
async def ram_read(rounds: int, scale: float) -> Samples:
    n = max(1 << 20, int(RAM_BYTES * scale)) & ~0xFFF
    src = bytearray(b"\x5a" * n)
    async with Machine(MachineSpec(memory="256M")) as m:
        ram = m.ioremap(RAM_AT, n)
        ram.write(0, bytes(src))  # the guest pages exist and are mapped here

        def mine() -> float:
            t0 = time.perf_counter()
            data = ram.read(0, n)
            dt = time.perf_counter() - t0
            assert len(data) == n and data[-1] == 0x5A
            m.trace.clear()  # the trace keeps what it recorded: drop the 64 MiB
            return n / dt

        mine()  # first touch of the mapping's page tables, for both alike below
        _memcpy_new(src)
        out = paired(rounds, mine, lambda: _memcpy_new(src))
        out.notes["bytes"] = n
        return out


async def _ram_vs_memcpy_into(rounds: int, scale: float, fill: int, preset: bool,
                              move: Callable, after: Callable) -> Samples:
    """`move(ram, src, dst)` over n bytes of shared RAM, paired with a host memcpy into an
    existing buffer; `after(ram, src, dst)` checks the bytes moved. The guest pages are
    touched first, with `src` itself when `preset` (what a read should find), else zeros (so
    the check sees what the writes did). The trace is off: it would keep a copy of every bulk
    access."""
    n = max(1 << 20, int(RAM_BYTES * scale)) & ~0xFFF
    src, dst, host_dst = bytearray(bytes([fill]) * n), bytearray(n), bytearray(n)
    async with Machine(MachineSpec(memory="256M")) as m:
        ram = m.ioremap(RAM_AT, n)
        ram.write(0, bytes(src) if preset else bytes(n))  # the guest pages exist, mapped here
        m.trace.enabled = False

        def mine() -> float:
            t0 = time.perf_counter()
            move(ram, src, dst)
            return n / (time.perf_counter() - t0)

        mine()  # first touch of the mapping's page tables, for both alike below
        _memcpy_into(src, host_dst)
        out = paired(rounds, mine, lambda: _memcpy_into(src, host_dst))
        after(ram, src, dst)
        out.notes["bytes"] = n
        return out


@figure("IoMem.readinto 64 MiB RAM (shared memory)", unit="B/s",
        baseline="host memcpy of 64 MiB into an existing buffer", at_least=0.5)
async def ram_readinto(rounds: int, scale: float) -> Samples:
    def check(ram, src, dst) -> None:
        assert dst == src

    return await _ram_vs_memcpy_into(rounds, scale, 0xA5, True,
                                     lambda ram, src, dst: ram.readinto(0, dst), check)


@figure("IoMem.write 64 MiB RAM (shared memory)", unit="B/s",
        baseline="host memcpy of 64 MiB into an existing buffer", at_least=0.5)
async def ram_write(rounds: int, scale: float) -> Samples:
    def check(ram, src, dst) -> None:
        assert ram.read(0, len(src)) == src

    return await _ram_vs_memcpy_into(rounds, scale, 0x3C, False,
                                     lambda ram, src, dst: ram.write(0, src), check)


def _raw_b64read(sock: socket.socket, addr: int, n: int, times: int) -> float:
    """The floor for bulk MMIO/ROM: b64read on the raw socket, decoded, nothing else."""
    cmd = f"b64read {addr:#x} {n:#x}\n".encode()
    sock.settimeout(10.0)
    try:
        t0 = time.perf_counter()
        for _ in range(times):
            sock.sendall(cmd)
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise MachineError("qtest socket closed by QEMU during the raw loop")
                buf += chunk
            assert len(base64.b64decode(buf[3:-1])) == n
        return n * times / (time.perf_counter() - t0)
    finally:
        sock.setblocking(False)


@figure("IoMem.read 64 KiB ROM (qtest)", unit="B/s", baseline="raw qtest b64read loop",
        at_least=0.8)
async def rom_read(rounds: int, scale: float) -> Samples:
    times = max(5, int(50 * scale))
    async with Machine(MachineSpec()) as m:
        rom = m.ioremap(ROM_AT, ROM_BYTES)
        assert m.space.route(rom) == "qtest" and m.qtest is not None
        sock = m.qtest.sock

        def mine() -> float:
            t0 = time.perf_counter()
            for _ in range(times):
                rom.read(0, ROM_BYTES)
            rate = ROM_BYTES * times / (time.perf_counter() - t0)
            m.trace.clear()
            return rate

        return paired(rounds, mine, lambda: _raw_b64read(sock, ROM_AT, ROM_BYTES, times))


def _qtest_round_trip(m: Machine, k: int) -> float:
    assert m.qtest is not None
    t0 = time.perf_counter()
    for _ in range(k):
        m.qtest.read(0xFED00000, 4)
    return (time.perf_counter() - t0) / k


@figure("routing re-read (info mtree -f, synchronous monitor)", unit="s",
        baseline="one qtest readl round trip")
async def routing_reread(rounds: int, scale: float) -> Samples:
    k = max(5, int(REREADS * scale))
    async with Machine(MachineSpec(devices=["edu"])) as m:
        m.pci.find(vendor=0x1234, device=0x11E8).enable()  # a realistic map: a BAR in it

        def mine() -> float:
            times = []
            for _ in range(k):
                t0 = time.perf_counter()
                m.space.refresh()
                times.append(time.perf_counter() - t0)
            return statistics.median(times)

        out = paired(rounds, mine, lambda: _qtest_round_trip(m, 200))
        out.notes["flat_ranges"] = len(m.flat.ranges)
        return out
