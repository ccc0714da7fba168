"""Suite-wide guard: after the run, no QEMU we started is alive and no machine dir is left."""

from __future__ import annotations

import importlib.util

import pytest

from driverkit.machine import machine as machine_module
from driverkit.machine.process import qemu_children

pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    """A venv installed before the drivers moved to driverkit.devices fails every driver test;
    say so once, with the fix, instead."""
    if importlib.util.find_spec("driverkit.devices") is None:
        raise pytest.UsageError("driverkit.devices is not importable: this venv holds an older "
                                "install of driverkit; re-install it (scripts/test does, or "
                                "pip install -e '.[test]')")


@pytest.fixture(scope="session", autouse=True)
def no_leaks_after_the_suite():
    yield
    leftovers = [str(p) for p in machine_module.CREATED_DIRS if p.exists()]
    children = qemu_children()
    assert not children, f"QEMU processes left running: {children}"
    assert not leftovers, f"machine temp dirs left behind: {leftovers}"


@pytest.fixture(scope="session")
def arm64_guest():
    """The arm64 Linux guest scripts/build-guest made; the test skips, saying why, without it."""
    from driverkit.errors import ArtifactMissing
    from driverkit.guest import GuestArtifacts

    try:
        return GuestArtifacts.locate(arch="aarch64")
    except ArtifactMissing as exc:
        pytest.skip(f"arm64 Linux guest not built: {exc}")
