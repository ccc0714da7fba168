"""Linux-guest tests after the first: a fork of the booted guest's snapshot against a cold
boot to a shell, each timed from start to the shell's first answer and teardown."""

from __future__ import annotations

import shlex
import shutil
import tempfile
import time
from pathlib import Path

from driverkit import Machine
from driverkit.guest import GuestShell, linux_guest_spec
from driverkit.guest.snapshot import LinuxSnapshot, wait_for_migration
from driverkit.machine.spec import MachineSpec

from . import Samples, figure

BOOT_TIMEOUT = 180.0


async def cold_boot(spec: MachineSpec) -> float:
    t0 = time.perf_counter()
    async with Machine(spec) as m:
        shell = GuestShell(m.console)
        await shell.wait_ready(BOOT_TIMEOUT)
        await shell.run("true", check=True)
    return time.perf_counter() - t0


async def fork(snap: LinuxSnapshot) -> float:
    t0 = time.perf_counter()
    async with snap.fork() as m:
        await m.shell.run("true")
    return time.perf_counter() - t0


@figure("Linux-guest test after the first (snapshot fork to shell)", unit="s",
        baseline="cold boot to a shell", at_most=0.1)
async def fork_vs_cold_boot(rounds: int, scale: float) -> Samples:
    spec = linux_guest_spec(machine="q35")
    t0 = time.perf_counter()
    snap = await LinuxSnapshot.take(spec)
    taken = time.perf_counter() - t0
    try:
        out = Samples([], [], {"snapshot_seconds": round(taken, 3),
                               "ram_image_mib": snap.ram_bytes >> 20,
                               "state_kib": snap.state_bytes >> 10})
        for _ in range(rounds):
            out.value.append(await fork(snap))
            out.baseline.append(await cold_boot(spec))
        return out
    finally:
        snap.remove()


async def _stream_restore(spec: MachineSpec, stream: Path) -> float:
    """The alternative measured and not chosen: RAM inside the migration stream."""
    t0 = time.perf_counter()
    m = Machine(spec.with_(extra_args=(*spec.extra_args, "-incoming", "defer")))
    m.firmware_ready = True
    async with m:
        await m.execute("migrate-incoming", {"uri": f"exec:cat {shlex.quote(str(stream))}"})
        await wait_for_migration(m, 60.0, "restoring the stream")
        await m.execute("cont")
        await GuestShell(m.console).run("true", check=True)
    return time.perf_counter() - t0


@figure("restore with RAM in the migration stream (not chosen)", unit="s",
        baseline="cold boot to a shell")
async def stream_vs_cold_boot(rounds: int, scale: float) -> Samples:
    spec = linux_guest_spec(machine="q35")
    tmp = Path(tempfile.mkdtemp(prefix="driverkit-bench-", dir="/dev/shm"))
    stream = tmp / "stream"
    try:
        async with Machine(spec) as m:
            shell = GuestShell(m.console)
            await shell.wait_ready(BOOT_TIMEOUT)
            await m.execute("stop")
            await m.execute("migrate", {"uri": f"exec:cat > {shlex.quote(str(stream))}"})
            await wait_for_migration(m, 60.0, "saving the stream")
        out = Samples([], [], {"stream_mib": stream.stat().st_size >> 20})
        for _ in range(rounds):
            out.value.append(await _stream_restore(spec, stream))
            out.baseline.append(await cold_boot(spec))
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
