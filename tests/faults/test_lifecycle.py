"""A machine's life under faults: explicit state, guards, restart, reaping, signals, reset."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from driverkit import Machine, MachineSpec
from driverkit.errors import MachineDied, MachineStateError, MachineTimeout
from driverkit.machine.machine import MachineState

HPET = 0xFED00000
HPET_ID = 0x8086A201
COMPARATOR = 0x108


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


async def test_states_and_what_each_guard_says():
    m = Machine()
    assert m.state is MachineState.NOT_STARTED
    with pytest.raises(MachineStateError, match="ioremap.*not started"):
        m.ioremap(HPET, 8)
    with pytest.raises(MachineStateError, match="QMP query-status.*not started"):
        await m.execute("query-status")
    async with m:
        assert m.state is MachineState.RUNNING and m.alive
        assert "running" in repr(m)
    assert m.state is MachineState.CLOSED
    with pytest.raises(MachineStateError, match="is closed"):
        m.ioremap(HPET, 8)
    with pytest.raises(MachineStateError, match="Machine.sync.*closed"):
        m.sync()
    with pytest.raises(MachineStateError, match="Machine.reset.*closed"):
        await m.reset()
    await m.close()  # closing twice is a no-op


async def test_transitions_are_logged(caplog):
    caplog.set_level(logging.INFO, logger="driverkit.machine")
    async with Machine():
        pass
    text = caplog.text
    for step in ("not started -> starting", "starting -> running", "running -> closing",
                 "closing -> closed"):
        assert step in text


async def test_restart_after_close_is_refused_and_leaves_no_qemu():
    m = Machine()
    await m.start()
    pid = m.process.pid
    await m.close()
    with pytest.raises(MachineStateError, match="runs once.*new Machine"):
        await m.start()
    await m.close()
    assert m.process.pid == pid and _gone(pid)


async def test_died_state_then_close_cleans_up():
    m = Machine()
    await m.start()
    io = m.ioremap(HPET, 8)
    m.process.kill()
    await asyncio.sleep(0.3)
    assert m.state is MachineState.DIED
    with pytest.raises(MachineDied, match="signal 9"):
        m.ioremap(HPET, 8)
    with pytest.raises(MachineDied):
        io.readl(0)
    await m.close()
    assert m.state is MachineState.CLOSED and not m.tmpdir.exists()


async def test_a_dropped_machine_is_reaped_while_the_loop_runs():
    before = _fds()
    m = Machine()
    await m.start()
    pid, tmp = m.process.pid, m.tmpdir
    assert m.ioremap(HPET, 8).readl(0) == HPET_ID
    del m
    gc.collect()
    assert _gone(pid), "QEMU of a dropped Machine still runs"
    assert not tmp.exists()
    await asyncio.sleep(0.2)  # the reaper cancels qemu.qmp and console tasks on the loop
    extra = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in _fds() - before
             if os.path.exists(f"/proc/self/fd/{fd}")}
    assert extra == {}


async def test_cancelling_close_still_releases_everything():
    m = Machine()
    await m.start()
    pid, tmp = m.process.pid, m.tmpdir
    os.kill(pid, signal.SIGSTOP)  # quit will hang: close is cancelled while it waits
    task = asyncio.ensure_future(m.close())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _gone(pid) and not tmp.exists()
    assert m.state is MachineState.CLOSED


async def test_a_close_that_cannot_quit_is_logged(caplog):
    caplog.set_level(logging.WARNING, logger="driverkit.machine")
    m = Machine()
    await m.start()
    os.kill(m.process.pid, signal.SIGSTOP)
    await m.close()
    assert "QMP quit got no answer" in caplog.text
    assert m.process.returncode is not None and not m.tmpdir.exists()


# --- reset ---------------------------------------------------------------------------------


async def test_reset_keeps_the_machine_and_drops_what_it_built():
    async with Machine(MachineSpec(devices=["edu"])) as m:
        hpet = m.ioremap(HPET, 0x400)
        hpet.writel(COMPARATOR, 0x1234)
        dev = m.pci.find(vendor=0x1234, device=0x11E8)
        dev.enable()
        bar0 = dev.iomap(0)
        assert bar0.readl(0) == 0x010000ED
        claim = m.request_mem_region(HPET, 0x400, "test claim")
        buf = m.dma.alloc(64)
        buf.free()
        old_pci, old_dma = m.pci, m.dma
        await m.reset()
        assert m.state is MachineState.RUNNING
        assert not hpet.mapped and not bar0.mapped  # mappings of the old machine are gone
        assert m.ioremap(HPET, 0x400).readl(COMPARATOR) == 0xFFFFFFFF  # reset value
        assert m.pci is not old_pci and m.dma is not old_dma
        assert "test claim" not in m.iomem()
        m.request_mem_region(HPET, 0x400, "test claim")  # free again after reset
        dev = m.pci.find(vendor=0x1234, device=0x11E8)
        dev.enable()
        assert dev.iomap(0).readl(0) == 0x010000ED
        del claim


async def test_plain_qmp_system_reset_no_longer_ends_the_machine():
    async with Machine() as m:
        hpet = m.ioremap(HPET, 0x400)
        hpet.writel(COMPARATOR, 0x55)
        await m.qmp.execute("system_reset")
        await asyncio.sleep(0.2)
        assert m.state is MachineState.RUNNING
        assert (await m.execute("query-status"))["status"] == "running"
        assert any(e["event"] == "RESET" for e in m.events)
        assert m.ioremap(HPET, 0x400).readl(COMPARATOR) == 0xFFFFFFFF


# --- startup and signals --------------------------------------------------------------------

STARTUP_TIMEOUT_SCRIPT = """
import asyncio, gc, os, sys
from driverkit import Machine, MachineSpec
from driverkit.errors import MachineTimeout

async def main():
    fifo = sys.argv[1]
    m = Machine(MachineSpec(startup_timeout=1.0,
                            extra_args=["-chardev", f"file,id=blk,path={fifo}"]))
    try:
        await m.start()
    except MachineTimeout as e:
        print("timeout:", e)
    gc.collect()

asyncio.run(main())
gc.collect()
"""


def test_a_startup_timeout_prints_no_unretrieved_task_exception(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    out = subprocess.run([sys.executable, "-c", STARTUP_TIMEOUT_SCRIPT, str(fifo)],
                         capture_output=True, text=True, timeout=30)
    assert "timeout: timed out after 1 s waiting for QEMU to start" in out.stdout
    assert "never retrieved" not in out.stderr, out.stderr
    assert "Traceback" not in out.stderr, out.stderr


# SIGTERM in a plain asyncio program: tests/test_machine.py::test_ctrl_c_or_kill_of_python...


def _shm_dirs_of(pid: int) -> list[Path]:
    return list(Path("/dev/shm").glob(f"driverkit-{pid}-*"))


def test_sigterm_during_memcheck_leaves_no_shm_dir():
    from driverkit.errors import ArtifactMissing
    from driverkit.guest.linux import linux_guest_spec

    try:
        linux_guest_spec()
    except ArtifactMissing as exc:  # the Linux guest is built by scripts/test
        pytest.skip(f"no Linux guest built: {exc}")
    proc = subprocess.Popen([sys.executable, "-m", "driverkit", "memcheck", "--memory", "256M"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not _shm_dirs_of(proc.pid):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "memcheck never made its machine dir"
        time.sleep(0.02)
    time.sleep(0.3)  # QEMU is booting the guest
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)
    assert _shm_dirs_of(proc.pid) == []


async def test_startup_timeout_is_machine_timeout_and_reaps(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    m = Machine(MachineSpec(startup_timeout=1.0,
                            extra_args=["-chardev", f"file,id=blk,path={fifo}"]))
    with pytest.raises(MachineTimeout, match="QEMU to start"):
        await m.start()
    assert m.state is MachineState.CLOSED
    assert m.process.returncode is not None and not m.tmpdir.exists()
