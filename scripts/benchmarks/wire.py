"""Posted writes and pipelined reads against the raw synchronous qtest loop, same machine.

Each figure also notes the raw pipelined rate of the same socket (send a window of
commands, then read their replies): that is what QEMU itself can take, the ceiling
of any posting or pipelining scheme.
"""

from __future__ import annotations

import socket
import time

from driverkit import Machine, MachineSpec
from driverkit.io.iomem import IoMem

from . import Samples, figure, paired
from .readl import HPET, blocking, raw_loop, recv_some

N = 20000
COMPARATOR = 0x108  # HPET timer 0 comparator: a 32-bit register that keeps what is written
WINDOW = 128


def raw_pipelined(sock: socket.socket, n: int) -> float:
    """Raw pipelined readl: WINDOW commands sent at once, then their replies read."""
    cmd = f"readl {HPET:#x}\n".encode() * WINDOW
    with blocking(sock):
        t0 = time.perf_counter()
        got = 0
        for _ in range(max(1, n // WINDOW)):
            sock.sendall(cmd)
            need = got + WINDOW
            while got < need:
                got += recv_some(sock, 65536).count(b"\n")
        return got / (time.perf_counter() - t0)


def posted_loop(io: IoMem, m: Machine, n: int) -> float:
    writel = io.writel
    t0 = time.perf_counter()
    for i in range(n):
        writel(COMPARATOR, i)
    m.sync()  # every write acknowledged: the time covers QEMU doing them
    rate = n / (time.perf_counter() - t0)
    assert io.readl(COMPARATOR) == n - 1
    m.trace.clear()
    return rate


def read_many_loop(io: IoMem, m: Machine, n: int) -> float:
    offsets = [0, 4, 0x10, COMPARATOR] * (n // 4)
    t0 = time.perf_counter()
    values = io.read_many(offsets, 4)
    rate = len(values) / (time.perf_counter() - t0)
    assert values[:2] == [0x8086A201, 0x00989680]
    m.trace.clear()
    return rate


async def _measure(rounds: int, scale: float, loop) -> Samples:
    n = max(256, int(N * scale))
    async with Machine(MachineSpec()) as m:
        io = m.ioremap(HPET, 0x400)
        assert m.qtest is not None
        sock = m.qtest.sock
        out = Samples([], [], {"raw_pipelined_per_s": []})
        for _ in range(rounds):  # interleaved, so load changes hit all three alike
            out.value.append(loop(io, m, n))
            out.baseline.append(raw_loop(sock, n))
            out.notes["raw_pipelined_per_s"].append(round(raw_pipelined(sock, n)))
        return out


@figure("posted IoMem.writel loop", unit="ops/s", baseline="raw sync qtest readl loop",
        at_least=10.0)
async def posted_writel(rounds: int, scale: float) -> Samples:
    return await _measure(rounds, scale, posted_loop)


@figure("IoMem.read_many (pipelined readl)", unit="ops/s", baseline="raw sync qtest readl loop",
        at_least=10.0)
async def read_many(rounds: int, scale: float) -> Samples:
    return await _measure(rounds, scale, read_many_loop)


@figure("raw qtest writel loop into RAM, each write told to the routing hook", unit="ops/s",
        baseline="the same loop with the hook off", at_least=0.8)
async def routing_hook(rounds: int, scale: float) -> Samples:
    """What marking the map stale at the qtest write choke point costs a write that cannot
    re-route memory (RAM by the current view: one cached range compare, no `info mtree`)."""
    n = max(256, int(N * scale))
    async with Machine(MachineSpec()) as m:
        qt = m.qtest
        assert qt is not None
        hook = qt.on_write

        def loop(on: bool) -> float:
            qt.on_write = hook if on else None
            before = m.space.refreshes
            t0 = time.perf_counter()
            for i in range(n):
                qt.write(0x100000 + (i & 0xFFC), 4, i)
            m.sync()
            rate = n / (time.perf_counter() - t0)
            assert m.space.refreshes == before and not m.space.stale, "a RAM write re-read"
            return rate

        try:
            out = paired(rounds, lambda: loop(True), lambda: loop(False))
        finally:
            qt.on_write = hook
        out.notes["map_rereads"] = m.space.refreshes
        return out
