"""Sessions: what a machine that outlives the command buys at the shell, and what a Python
access through a session's socket costs against the same access in-process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from driverkit import Machine, MachineSpec
from driverkit.session import Session

from . import Samples, figure, paired

EXE = str(Path(sys.executable).with_name("driverkit"))


def _cli(env: dict, *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([EXE, *args], env=env, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - t0


@figure("CLI peek in a session", unit="s", baseline="CLI peek launching its own machine",
        at_most=0.9)
async def cli_peek(rounds: int, scale: float) -> Samples:
    with tempfile.TemporaryDirectory(prefix="dk-bench-sess-") as d:
        env = {**os.environ, "DRIVERKIT_SESSION_DIR": d}
        _cli(env, "start", "--name", "bench")
        try:
            return paired(rounds, lambda: _cli(env, "peek", "0xfed00000", "--session", "bench"),
                          lambda: _cli(env, "peek", "0xfed00000"))
        finally:
            _cli(env, "stop", "bench")


@figure("Session.readl from Python", unit="ops/s", baseline="IoMem.readl in-process",
        at_least=0.005)
async def session_readl(rounds: int, scale: float) -> Samples:
    n = max(20, int(500 * scale))
    with tempfile.TemporaryDirectory(prefix="dk-bench-sess-") as d:
        env = {**os.environ, "DRIVERKIT_SESSION_DIR": d}
        _cli(env, "start", "--name", "bench")
        os.environ["DRIVERKIT_SESSION_DIR"] = d
        try:
            async with Machine(MachineSpec()) as m:
                hpet = m.ioremap(0xFED00000, 0x400)
                with Session.attach("bench") as s:
                    def remote() -> float:
                        t0 = time.perf_counter()
                        for _ in range(n):
                            s.readl(0xFED00000)
                        return n / (time.perf_counter() - t0)

                    def local() -> float:
                        t0 = time.perf_counter()
                        for _ in range(n):
                            hpet.readl(0)
                        return n / (time.perf_counter() - t0)

                    return paired(rounds, remote, local)
        finally:
            os.environ.pop("DRIVERKIT_SESSION_DIR", None)
            _cli(env, "stop", "bench")
