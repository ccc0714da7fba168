"""readl throughput: IoMem (validated, traced) against a raw qtest socket loop, same machine."""

from __future__ import annotations

import socket
import time
from contextlib import contextmanager
from typing import Iterator

from driverkit import Machine, MachineSpec
from driverkit.errors import MachineError
from driverkit.io.iomem import IoMem

from . import Samples, figure, paired

HPET = 0xFED00000
N = 20000


def recv_some(sock: socket.socket, bufsize: int = 4096) -> bytes:
    """What QEMU sent (the socket timeout bounds the wait); EOF is a MachineError."""
    chunk = sock.recv(bufsize)
    if not chunk:
        raise MachineError("qtest socket closed by QEMU during the raw loop")
    return chunk


@contextmanager
def blocking(sock: socket.socket, timeout: float = 10.0) -> Iterator[socket.socket]:
    """The channel's socket is non-blocking; a raw loop blocks (with a deadline) meanwhile."""
    sock.settimeout(timeout)
    try:
        yield sock
    finally:
        sock.setblocking(False)


def raw_loop(sock: socket.socket, n: int) -> float:
    """The floor: write the command, read until newline, parse nothing but the value."""
    cmd = f"readl {HPET:#x}\n".encode()
    buf = b""
    with blocking(sock):
        t0 = time.perf_counter()
        for _ in range(n):
            sock.sendall(cmd)
            while b"\n" not in buf:
                buf += recv_some(sock)
            line, _, buf = buf.partition(b"\n")
            int(line[3:], 16)
        return n / (time.perf_counter() - t0)


def iomem_loop(io: IoMem, n: int, m: Machine) -> float:
    readl = io.readl
    t0 = time.perf_counter()
    for _ in range(n):
        readl(0)
    rate = n / (time.perf_counter() - t0)
    m.trace.clear()
    return rate


@figure("IoMem.readl (MMIO, HPET)", unit="ops/s", baseline="raw sync qtest readl loop",
        at_least=0.8)
async def mmio_readl(rounds: int, scale: float) -> Samples:
    n = max(100, int(N * scale))
    async with Machine(MachineSpec()) as m:
        io = m.ioremap(HPET, 0x400)
        assert io.readl(0) == 0x8086A201
        assert m.qtest is not None
        sock = m.qtest.sock
        return paired(rounds, lambda: iomem_loop(io, n, m), lambda: raw_loop(sock, n))


@figure("IoMem.readl (RAM, shared memory)", unit="ops/s", baseline="raw sync qtest readl loop")
async def ram_readl(rounds: int, scale: float) -> Samples:
    n = max(100, int(N * scale))
    async with Machine(MachineSpec()) as m:
        ram = m.ioremap(0x100000, 0x1000)
        assert m.qtest is not None
        sock = m.qtest.sock
        return paired(rounds, lambda: iomem_loop(ram, n, m), lambda: raw_loop(sock, n))
