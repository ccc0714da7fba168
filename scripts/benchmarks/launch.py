"""Launch: a bare machine up and down against raw QEMU launched to qtest-ready and reaped;
and a soak of a few hundred launch cycles counting what leaked (processes, dirs, fds)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from driverkit import Machine, MachineSpec
from driverkit.errors import MachineError
from driverkit.machine.argv import qemu_binary
from driverkit.machine.firmware import write_bare_firmware
from driverkit.machine.process import qemu_children

from . import Samples, figure

LAUNCHES = 10
SOAK_CYCLES = 300


def raw_up_down(bios: Path) -> float:
    """QEMU with the same board, RAM and firmware, no driverkit: spawn, first qtest reply, kill."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [qemu_binary("x86_64"), "-M", "q35", "-m", "256M", "-accel", "tcg", "-display", "none",
         "-nodefaults", "-no-user-config", "-chardev", f"socket,id=qtest,fd={theirs.fileno()}",
         "-qtest", "chardev:qtest", "-qtest-log", "none", "-bios", str(bios)],
        pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    theirs.close()
    try:
        ours.settimeout(10.0)
        ours.sendall(b"endianness\n")
        if not ours.recv(64):
            raise MachineError("raw QEMU closed its qtest socket")
    finally:
        proc.kill()
        proc.wait(10)
        ours.close()
    return time.perf_counter() - t0


async def machine_up_down() -> float:
    t0 = time.perf_counter()
    async with Machine(MachineSpec()) as m:
        assert m.qtest is not None
    return time.perf_counter() - t0


@figure("bare machine up+down", unit="s", baseline="raw QEMU to qtest-ready, killed",
        at_most=1.2)
async def up_down(rounds: int, scale: float) -> Samples:
    k = max(3, int(LAUNCHES * scale))
    with tempfile.TemporaryDirectory() as tmp:
        bios = write_bare_firmware("x86_64", Path(tmp))
        out = Samples([], [])
        await machine_up_down()  # warm caches (binary, firmware) for both alike
        raw_up_down(bios)
        for _ in range(rounds):
            mine = [await machine_up_down() for _ in range(k)]
            raw = [raw_up_down(bios) for _ in range(k)]
            out.value.append(sorted(mine)[k // 2])
            out.baseline.append(sorted(raw)[k // 2])
        return out


def _leak_probe() -> tuple[set[str], set[str], set[str]]:
    dirs = {p.name for p in Path("/dev/shm").glob(f"driverkit-{os.getpid()}-*")}
    dirs |= {p.name for p in Path(tempfile.gettempdir()).glob(f"driverkit-{os.getpid()}-*")}
    return set(qemu_children()), dirs, set(os.listdir("/proc/self/fd"))


@figure("soak: machine launch cycles", unit="s", baseline="raw QEMU to qtest-ready, killed")
async def soak(rounds: int, scale: float) -> Samples:
    cycles = max(10, int(SOAK_CYCLES * scale))
    with tempfile.TemporaryDirectory() as tmp:
        bios = write_bare_firmware("x86_64", Path(tmp))
        await machine_up_down()
        procs0, dirs0, fds0 = _leak_probe()
        t0 = time.perf_counter()
        times = [await machine_up_down() for _ in range(cycles)]
        total = time.perf_counter() - t0
        procs1, dirs1, fds1 = _leak_probe()
        raw = [raw_up_down(bios) for _ in range(max(5, cycles // 10))]
    leaked = {"processes": len(procs1 - procs0), "dirs": len(dirs1 - dirs0),
              "fds": len(fds1 - fds0)}
    print(f"soak: {cycles} launch cycles in {total:.1f} s ({total / cycles * 1000:.1f} ms each); "
          f"leaked: {leaked['processes']} processes, {leaked['dirs']} machine dirs, "
          f"{leaked['fds']} fds", file=sys.stderr)
    return Samples([sorted(times)[len(times) // 2]], [sorted(raw)[len(raw) // 2]],
                   {"cycles": cycles, "total_s": round(total, 2), "leaked": leaked})
