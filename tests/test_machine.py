"""Machine lifecycle against real QEMU: launch, shutdown, death, hangs, leaks."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from driverkit import Machine, MachineSpec
from driverkit.errors import ConfigError, MachineDied, MachineError, MachineTimeout, QemuNotFound
from driverkit.machine import firmware


async def test_launch_status_and_clean_shutdown():
    m = Machine(MachineSpec())
    async with m:
        status = await m.qmp.execute("query-status")
        assert status["status"] == "running"
        tmp, pid = m.tmpdir, m.process.pid
        assert tmp.is_dir() and (tmp.stat().st_mode & 0o777) == 0o700
        assert not (tmp / "ram").exists()  # unlinked once both sides mapped it
    assert m.process.returncode == 0  # QMP quit, not a kill
    assert not tmp.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_teardown_when_body_raises():
    m = Machine()
    with pytest.raises(RuntimeError, match="boom"):
        async with m:
            raise RuntimeError("boom")
    assert m.process.returncode is not None
    assert not m.tmpdir.exists()


def hello_rom(path, text: bytes) -> str:
    path.write_bytes(firmware.hello_rom(text))
    return str(path)


async def test_serial_console_captured_from_a_custom_firmware(tmp_path):
    rom = hello_rom(tmp_path / "hello.rom", b"driverkit hello\r\n")
    async with Machine(MachineSpec(firmware=rom)) as m:
        match = await m.console.expect(b"hello\r\n", timeout=5)
        assert match.group(0) == b"hello\r\n"
        assert "driverkit hello" in m.console.text
        log = m.console.log_path
        assert log.read_bytes().startswith(b"driverkit hello")
        with pytest.raises(MachineTimeout, match="never printed"):
            await m.console.expect("never printed", timeout=0.3)


async def test_kill_mid_session_raises_machine_died_quickly():
    async with Machine() as m:
        hpet = m.ioremap(0xFED00000, 0x400)
        assert hpet.readl(0) == 0x8086A201
        os.kill(m.process.pid, signal.SIGKILL)
        t0 = time.monotonic()
        with pytest.raises(MachineDied) as info:
            for _ in range(1000):
                hpet.readl(0)
        assert time.monotonic() - t0 < 2.0
        assert info.value.signal == signal.SIGKILL


async def test_kill_during_qmp_wait_raises_machine_died():
    async with Machine() as m:
        m.process.kill()
        t0 = time.monotonic()
        with pytest.raises(MachineDied):
            await m.execute("query-status")
        assert time.monotonic() - t0 < 2.0


async def test_hung_qemu_times_out_instead_of_hanging():
    async with Machine() as m:
        m.qtest.timeout = 0.5
        os.kill(m.process.pid, signal.SIGSTOP)
        try:
            with pytest.raises(MachineTimeout, match="qtest reply"):
                m.ioremap(0xFED00000, 0x400).readl(0)
        finally:
            os.kill(m.process.pid, signal.SIGCONT)


async def test_bad_device_fails_with_stderr_and_leaves_nothing():
    m = Machine(MachineSpec(devices=["no-such-device"]))
    with pytest.raises(MachineDied, match="no-such-device"):
        await m.start()
    assert m.process.returncode is not None
    assert not m.tmpdir.exists()


async def test_missing_qemu_binary_leaks_no_socket_or_dir(monkeypatch):
    # build_argv finds no QEMU after the socketpairs exist: every fd and the dir go away.
    fds_before = set(os.listdir("/proc/self/fd"))
    monkeypatch.setenv("PATH", "/nonexistent")
    m = Machine()
    with pytest.raises(QemuNotFound, match="qemu-system-x86_64 is not installed"):
        await m.start()
    assert m.process is None
    assert not m.tmpdir.exists()
    assert set(os.listdir("/proc/self/fd")) <= fds_before


async def test_startup_deadline_kills_a_qemu_that_never_answers(tmp_path):
    # QEMU opens a chardev file before its monitor; a FIFO with no reader blocks it there.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    m = Machine(MachineSpec(startup_timeout=1.0,
                            extra_args=["-chardev", f"file,id=blk,path={fifo}"]))
    t0 = time.monotonic()
    with pytest.raises(MachineTimeout, match="QEMU to start"):
        await m.start()
    assert time.monotonic() - t0 < 4.0
    assert m.process is not None and m.process.returncode is not None  # started, then reaped
    assert not m.tmpdir.exists()


def test_console_write_before_start_is_a_machine_error():
    with pytest.raises(MachineError, match="not attached"):
        Machine().console.write("ls\n")


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"arch": "riscv"}, "arch"),
        ({"machine": "virt"}, "machine"),
        ({"memory": "12Q"}, "suffix"),
        ({"memory": "1M"}, "16M"),
        ({"accel": "hvf"}, "accel"),
        ({"firmware": "/nonexistent"}, "firmware"),
        ({"devices": "edu"}, "list"),
        ({"append": "console=ttyS0"}, "kernel"),
    ],
)
def test_spec_validation(fields, message):
    with pytest.raises(ConfigError, match=message):
        MachineSpec(**fields)


async def test_pc_machine_and_machines_in_parallel():
    async with Machine(MachineSpec(machine="pc")) as a, Machine(MachineSpec()) as b:
        assert a.ioremap(0xFED00000, 8).readl(0) == 0x8086A201
        assert b.ioremap(0xFED00000, 8).readl(0) == 0x8086A201
        assert a.tmpdir != b.tmpdir
        await asyncio.gather(a.execute("query-status"), b.execute("query-status"))


CTRL_C_SCRIPT = """
import asyncio, sys
from driverkit import Machine

async def main():
    async with Machine() as m:
        print(m.process.pid, m.tmpdir, flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_ctrl_c_or_kill_of_python_leaves_no_qemu_and_no_files(sig):
    import subprocess
    import sys
    from pathlib import Path

    proc = subprocess.Popen([sys.executable, "-c", CTRL_C_SCRIPT], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    pid, tmp = proc.stdout.readline().split()
    proc.send_signal(sig)
    proc.wait(10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"QEMU pid {pid} still alive after the Python process got {sig!r}")
    if sig != signal.SIGKILL:  # an orderly exit (SIGTERM is taken like Ctrl-C) removes the files
        assert proc.returncode in (-signal.SIGINT, 130)  # ended as Ctrl-C ends asyncio.run
        assert not Path(tmp).exists()
    else:  # a killed Python can't clean up; the next machine start sweeps what it left
        async def start_one():
            async with Machine():
                pass
        asyncio.run(start_one())
        assert not Path(tmp).exists()


async def test_accel_auto_uses_kvm_only_after_a_real_probe():
    from driverkit.machine.kvm import _probe, probe_kvm

    # The probe's test can succeed: the same kernel under TCG prints its banner.
    assert await _probe(10.0, accel="tcg") == (
        True, "a Linux kernel ran under tcg (its banner reached the serial port)")

    usable, why = await probe_kvm()
    async with Machine(MachineSpec(accel="auto")) as m:
        assert m.spec.accel == ("kvm" if usable else "tcg")
        assert m.accel_reason == why
        assert m.ioremap(0xFED00000, 8).readl(0) == 0x8086A201


async def test_io_timeout_set_after_start_reaches_the_channels():
    async with Machine(MachineSpec()) as m:
        m.io_timeout = 1.5
        assert m.qtest.timeout == 1.5 and m.monitor.timeout == 1.5
        assert m.ioremap(0xFED00000, 0x400).readl(0) == 0x8086A201
