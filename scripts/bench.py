"""readl throughput: IoMem (validated, traced) against a raw qtest socket loop, same machine, same run."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from driverkit import Machine, MachineSpec
from driverkit.errors import MachineError

HPET = 0xFED00000


def raw_loop(sock, n: int) -> float:
    """The floor: write the command, read until newline, parse nothing but the value.

    The channel's socket is non-blocking; the raw loop blocks (with a deadline) meanwhile.
    """
    cmd = f"readl {HPET:#x}\n".encode()
    buf = b""
    sock.settimeout(10.0)
    try:
        return _raw_loop(sock, cmd, buf, n)
    finally:
        sock.setblocking(False)


def _raw_loop(sock, cmd: bytes, buf: bytes, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        sock.sendall(cmd)
        while b"\n" not in buf:
            chunk = sock.recv(4096)  # the channel's socket timeout bounds each wait
            if not chunk:
                raise MachineError("qtest socket closed by QEMU during the raw loop")
            buf += chunk
        line, _, buf = buf.partition(b"\n")
        int(line[3:], 16)
    return n / (time.perf_counter() - t0)


def iomem_loop(io, n: int) -> float:
    readl = io.readl
    t0 = time.perf_counter()
    for _ in range(n):
        readl(0)
    return n / (time.perf_counter() - t0)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=20000, help="reads per round (default 20000)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    async with Machine(MachineSpec()) as m:
        io = m.ioremap(HPET, 0x400)
        sock = m.qtest.sock
        assert io.readl(0) == 0x8086A201
        raw, dk = [], []
        for _ in range(args.rounds):  # interleaved, so load changes hit both alike
            raw.append(raw_loop(sock, args.n))
            dk.append(iomem_loop(io, args.n))
            m.trace.clear()
        shm = m.ioremap(0x100000, 0x1000)
        ram = iomem_loop(shm, args.n)
    raw_best, dk_best = max(raw), max(dk)
    # Each round measures both back to back; the median of the paired ratios resists load noise.
    ratio = statistics.median(d / r for d, r in zip(dk, raw))
    result = {"raw_qtest_readl_per_s": round(raw_best), "iomem_readl_per_s": round(dk_best),
              "ratio": round(ratio, 3), "shared_ram_readl_per_s": round(ram),
              "n": args.n, "rounds": args.rounds}
    if args.json:
        print(json.dumps(result))
        return
    print(f"raw qtest socket readl : {raw_best:>10,.0f} ops/s  (best of {args.rounds} x {args.n})")
    print(f"IoMem.readl (MMIO)     : {dk_best:>10,.0f} ops/s")
    print(f"ratio IoMem / raw      : {ratio:.3f}  (median of paired rounds; target >= 0.8)")
    print(f"IoMem.readl (RAM, shm) : {ram:>10,.0f} ops/s")


if __name__ == "__main__":
    asyncio.run(main())
