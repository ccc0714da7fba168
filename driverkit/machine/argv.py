"""MachineSpec -> the QEMU command line. Pure: paths and fds come from the caller."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import QemuNotFound
from .spec import MachineSpec

BINARIES = {"x86_64": "qemu-system-x86_64", "aarch64": "qemu-system-aarch64",
            "arm": "qemu-system-arm"}
RAM_BACKEND_ID = "ram0"
STEPPED_RTC_BASE = "2000-01-01T00:00:00"  # a fixed date: stepped runs repeat exactly


@dataclass(frozen=True)
class Channels:
    """File descriptors (inherited by QEMU) of the socketpairs, and file paths."""

    qmp_fd: int
    qtest_fd: int
    serial_fd: int
    bios: Path | None
    ram_path: Path | None
    guest_errors: Path | None = None  # where QEMU logs accesses it rejects (-d guest_errors)
    monitor_fd: int | None = None  # a second QMP monitor, driven synchronously (routing)
    gdb_fd: int | None = None  # stepped clock: the gdbstub's socket
    kernel: Path | None = None  # an image QEMU loads with -kernel (Arm M-profile boot image)


def qemu_binary(arch: str) -> str:
    path = shutil.which(BINARIES[arch])
    if path is None:
        raise QemuNotFound(
            f"{BINARIES[arch]} is not installed (Debian: apt-get install "
            f"{'qemu-system-x86' if arch == 'x86_64' else 'qemu-system-arm'})"
        )
    return path


def cpu_of(spec: MachineSpec) -> str | None:
    """The -cpu model for `spec`: its own, cortex-a57 on aarch64, else the board's default."""
    return spec.cpu or ("cortex-a57" if spec.arch == "aarch64" else None)


def build_argv(spec: MachineSpec, ch: Channels) -> list[str]:
    """The full argv for `spec`, talking QMP, qtest and serial over inherited socket fds."""
    mem_mib = spec.memory_bytes >> 20
    machine = str(spec.machine)
    if spec.shared_ram and ch.ram_path is not None:
        machine += f",memory-backend={RAM_BACKEND_ID}"
    argv = [qemu_binary(spec.arch), "-M", machine]
    if mem_mib:  # 0: the board's own RAM size (32-bit Arm boards fix theirs)
        argv += ["-m", f"{mem_mib}M"]
    if spec.shared_ram and ch.ram_path is not None:
        argv += [
            "-object",
            f"memory-backend-file,id={RAM_BACKEND_ID},size={mem_mib}M,"
            f"mem-path={ch.ram_path},share=on",
        ]
    argv += ["-accel", spec.accel]
    if spec.clock == "stepped":
        # virtual time = executed instructions; the VM starts stopped and moves only when stepped
        argv += ["-icount", f"shift={spec.clock_shift},sleep=off", "-S",
                 "-name", "driverkit,debug-threads=on"]
        if ch.gdb_fd is not None:
            argv += ["-chardev", f"socket,id=dkgdb,fd={ch.gdb_fd}", "-gdb", "chardev:dkgdb"]
        argv += ["-rtc", f"base={STEPPED_RTC_BASE},clock=vm"]  # RTCs follow virtual time
        if spec.arch == "x86_64":
            argv += ["-device", "pvpanic", "-action", "panic=pause"]
        else:
            argv += ["-semihosting-config", "enable=on,target=gdb"]
    cpu = cpu_of(spec)
    if cpu:
        argv += ["-cpu", cpu]
    # No -no-reboot: it turns QMP system_reset into a shutdown. A Linux guest's own reset
    # (panic=-1, reboot) still ends the machine: Machine watches the RESET event's guest flag.
    argv += ["-display", "none", "-nodefaults", "-no-user-config"]
    argv += ["-chardev", f"socket,id=dkqmp,fd={ch.qmp_fd}", "-mon", "chardev=dkqmp,mode=control"]
    if ch.monitor_fd is not None:
        argv += ["-chardev", f"socket,id=dkmon,fd={ch.monitor_fd}",
                 "-mon", "chardev=dkmon,mode=control"]
    # QEMU 7.2 looks the qtest chardev up by the fixed id "qtest" (qtest_set_chardev)
    argv += ["-chardev", f"socket,id=qtest,fd={ch.qtest_fd}", "-qtest", "chardev:qtest"]
    argv += ["-qtest-log", "none"]
    argv += ["-chardev", f"socket,id=dkserial,fd={ch.serial_fd}", "-serial", "chardev:dkserial"]
    if ch.bios is not None:
        argv += ["-bios", str(ch.bios)]
    if ch.kernel is not None:
        argv += ["-kernel", str(ch.kernel)]
    elif spec.kernel:
        argv += ["-kernel", spec.kernel]
    if spec.initrd:
        argv += ["-initrd", spec.initrd]
    if spec.append:
        argv += ["-append", spec.append]
    for dev in spec.devices:
        argv += ["-device", dev]
    if ch.guest_errors is not None:
        argv += ["-d", "guest_errors", "-D", str(ch.guest_errors)]
    argv += list(spec.extra_args)
    return argv
