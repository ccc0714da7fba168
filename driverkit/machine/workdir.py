"""A machine's private directory (sockets' files, RAM backend, logs), and the last-resort reaper.

The directory lives on /dev/shm when it can, so the RAM backend file is memory;
its name carries our pid, so a later run sweeps what a killed process left.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .process import QemuProcess

CREATED_DIRS: list[Path] = []
"""Every private dir this process made for a machine (a leak check looks them up after a run)."""


def _sweep_stale(base: str) -> None:
    """Remove machine dirs whose Python process was killed outright (SIGKILL skips cleanup)."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if len(parts) < 3 or parts[0] != "driverkit" or not parts[1].isdigit():
            continue
        try:
            os.kill(int(parts[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
        except OSError:
            pass


def private_dir() -> Path:
    """A fresh 0700 dir for one machine (stale ones of dead processes are swept first)."""
    usable = os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK)
    base = "/dev/shm" if usable else tempfile.gettempdir()
    _sweep_stale(base)
    path = Path(tempfile.mkdtemp(prefix=f"driverkit-{os.getpid()}-", dir=base))
    CREATED_DIRS.append(path)
    return path


class Leftovers:
    """What a machine holds outside Python's reach: QEMU, its dir, fds. Released once."""

    def __init__(self) -> None:
        self.process: QemuProcess | None = None
        self.tmpdir: Path | None = None
        self.socks: list[socket.socket] = []
        self.fds: list[int] = []
        self.readers: list[tuple[asyncio.AbstractEventLoop, int]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.on_loop: list[Callable[[], object]] = []
        """Run on the loop at release (cancel tasks, close transports of a dropped machine)."""
        self.closers: list[Callable[[], object]] = []
        """Run at release, here (files opened lazily, e.g. the guest_errors log's fd)."""

    def release(self) -> None:
        """Kill and reap QEMU if it still runs, close every fd, remove the dir (idempotent)."""
        if self.loop is not None and not self.loop.is_closed():
            for fn in self.on_loop:
                self.loop.call_soon_threadsafe(fn)
        self.on_loop.clear()
        for loop, fd in self.readers:
            try:
                if not loop.is_closed():
                    loop.remove_reader(fd)
            except (ValueError, OSError, RuntimeError):
                pass
        self.readers.clear()
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            self.process.wait_exit(5.0)
        for s in self.socks:
            s.close()
        self.socks.clear()
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds.clear()
        for close in self.closers:
            close()
        self.closers.clear()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
