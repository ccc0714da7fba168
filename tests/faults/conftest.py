"""Every fault test must leave nothing behind: no QEMU child, no machine dir, no new fd."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import pytest

from driverkit.machine.process import qemu_children


def _our_dirs() -> set[str]:
    return {p.name for p in Path("/dev/shm").glob(f"driverkit-{os.getpid()}-*")}


def _fds() -> dict[str, str]:
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own fd, gone already
            pass
    return out


def _leaks(fds0: dict[str, str], dirs0: set[str]) -> list[str]:
    fds = {fd: target for fd, target in _fds().items()
           if fds0.get(fd) != target and ("socket:" in target or "pidfd" in target
                                          or "driverkit-" in target)}
    found = [f"fd {fd} -> {target}" for fd, target in fds.items()]
    found += [f"machine dir {d}" for d in _our_dirs() - dirs0]
    found += [f"QEMU {c}" for c in qemu_children()]
    return found


@pytest.fixture(autouse=True)
def nothing_leaks():
    fds0, dirs0 = _fds(), _our_dirs()
    yield
    deadline = time.monotonic() + 3.0
    while (found := _leaks(fds0, dirs0)) and time.monotonic() < deadline:
        gc.collect()  # a dropped Machine's finalizer; qemu.qmp closing its transport
        time.sleep(0.05)
    assert found == [], f"left behind: {found}"
