"""Run one stepped-clock scenario per board N times; every round must read the same registers.

    scripts/clock-soak --rounds 20 --hog      # a busy-loop process competes for the CPUs

Each round launches fresh machines, steps them the same way and records the register values
(x86 q35: HPET counter and the RTC's periodic flag; mps2-an385: CMSDK timer VALUE and
INTSTATUS; microbit: nRF51 TIMER capture and COMPARE; arm and aarch64 virt: the PL031 count
and alarm status, each step checked against the CPU's generic timer). Exit 0 only if all
rounds agree.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
import time

from driverkit import Machine, MachineSpec
from driverkit.devices.cmsdk import CmsdkTimer

STEPS = [13_000, 40, 4_000, 123_456, 1_000_000, 77, 2_500_000, 999]


async def x86() -> list[int]:
    async with Machine(MachineSpec(clock="stepped")) as m:
        hpet = m.ioremap(0xFED00000, 0x400)
        hpet.writel(0x10, 1)
        out = []
        for ns in STEPS:
            m.clock_step(ns)
            out.append(hpet.readq(0xF0))
        return out


async def cmsdk() -> list[int]:
    async with Machine(MachineSpec(arch="arm", machine="mps2-an385", clock="stepped")) as m:
        t = m.ioremap(0x40000000, 0x1000)
        (await CmsdkTimer.probe(m)).start(5000)
        out = []
        for ns in STEPS:
            m.clock_step(ns)
            out += [t.readl(0x4), t.readl(0xC)]
            t.writel(0xC, 1)
        return out


async def nrf51() -> list[int]:
    async with Machine(MachineSpec(arch="arm", machine="microbit", clock="stepped")) as m:
        t = m.ioremap(0x40008000, 0x1000)
        t.writel(0x508, 3)  # 32-bit
        t.writel(0x540, 40_000)  # CC[0]
        t.writel(0x000, 1)  # START
        out = []
        for ns in STEPS:
            m.clock_step(ns)
            t.writel(0x044, 1)  # CAPTURE[1]
            out += [t.readl(0x544), t.readl(0x140)]
        return out


async def virt(arch: str) -> list[int]:
    async with Machine(MachineSpec(arch=arch, machine="virt", clock="stepped")) as m:
        rtc = m.ioremap(next(r.start for r in m.flat.ranges if r.name == "pl031"), 0x1000)
        rtc.writel(0x04, rtc.readl(0) + 1)  # alarm in 1 s
        out = []
        for ns in STEPS + [999_000_000]:
            out += [m.clock_step(ns), rtc.readl(0), rtc.readl(0x14)]  # the step checked CNTVCT
        return out


async def one_round() -> dict[str, list[int]]:
    return {"x86_q35": await x86(), "mps2_an385": await cmsdk(), "microbit": await nrf51(),
            "arm_virt": await virt("arm"), "aarch64_virt": await virt("aarch64")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--hog", action="store_true", help="run a CPU busy loop meanwhile")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    hog = subprocess.Popen(["sh", "-c", "while :; do :; done"]) if args.hog else None
    digests, first, t0 = [], None, time.monotonic()
    try:
        for _ in range(args.rounds):
            values = asyncio.run(one_round())
            first = first or values
            digests.append(hashlib.sha256(json.dumps(values).encode()).hexdigest()[:16])
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    same = len(set(digests)) == 1
    report = {"rounds": args.rounds, "hog": args.hog, "identical": same,
              "digests": sorted(set(digests)), "seconds": round(time.monotonic() - t0, 1),
              "values": first}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.rounds} rounds{' beside a CPU hog' if args.hog else ''}: "
              f"{'all identical' if same else 'DIFFERENT'} ({', '.join(report['digests'])}) "
              f"in {report['seconds']} s")
        for board, vals in (first or {}).items():
            print(f"  {board}: {vals}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
