"""Suite-wide guard: after the run, no QEMU we started is alive and no machine dir is left."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from driverkit.machine import machine as machine_module

pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    """A venv installed before the drivers moved to driverkit.devices fails every driver test;
    say so once, with the fix, instead."""
    if importlib.util.find_spec("driverkit.devices") is None:
        raise pytest.UsageError("driverkit.devices is not importable: this venv holds an older "
                                "install of driverkit; re-install it (scripts/test does, or "
                                "pip install -e '.[test]')")


def _qemu_children() -> list[str]:
    me, found = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            comm = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if int(fields[1]) == me and comm.startswith("qemu-system"):
            found.append(f"pid {stat.parent.name} ({comm})")
    return found


@pytest.fixture(scope="session", autouse=True)
def no_leaks_after_the_suite():
    yield
    leftovers = [str(p) for p in machine_module.CREATED_DIRS if p.exists()]
    children = _qemu_children()
    assert not children, f"QEMU processes left running: {children}"
    assert not leftovers, f"machine temp dirs left behind: {leftovers}"
