"""The plugin's command-line options and marker, checked once at start (bad values are usage
errors before any test runs)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from .config import parse_types

DEFAULT_TIMEOUT = 120.0


@dataclass
class Options:
    """The --driverkit-* options, parsed."""

    artifacts: Path | None
    timeout: float | None
    types: list[str]
    record: Path | None
    replay: Path | None


OPTIONS = pytest.StashKey[Options]()


def options(config: pytest.Config) -> Options:
    return config.stash[OPTIONS]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("driverkit", "driverkit (QEMU machines)")
    group.addoption("--driverkit-artifacts", metavar="DIR", default=None,
                    help="per failing test, write QEMU's command line and stderr, serial log, "
                         "QMP events, info mtree -f, the resource tree and the MMIO trace here")
    group.addoption("--driverkit-timeout", metavar="SECONDS", type=float, default=DEFAULT_TIMEOUT,
                    help="deadline of each test that uses a machine (marker timeout= wins); "
                         f"0 disables (default {DEFAULT_TIMEOUT:g})")
    group.addoption("--driverkit-machine", metavar="TYPES", default=None,
                    help="run machine tests on each of these machine types, e.g. q35,pc "
                         "(virt only for tests whose marker allows it: machines=[...])")
    group.addoption("--driverkit-record", metavar="DIR", default=None,
                    help="save the MMIO trace of each passing test's `machine` here (for replay)")
    group.addoption("--driverkit-replay", metavar="DIR", default=None,
                    help="run `machine` tests against traces recorded with --driverkit-record, "
                         "without QEMU (reported as REPLAYED)")


def _default_asyncio_fixture_scope(config: pytest.Config) -> None:
    """A user with no asyncio config gets pytest-asyncio's future default ("function") instead
    of its deprecation warning; a configured value is left alone."""
    try:
        unset = not config.getini("asyncio_default_fixture_loop_scope")
    except ValueError:  # pytest-asyncio not installed
        return
    if unset:
        config._inicache["asyncio_default_fixture_loop_scope"] = "function"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _default_asyncio_fixture_scope(config)
    config.addinivalue_line(
        "markers",
        "machine(**fields): the QEMU machine for the `machine` fixture (MachineSpec fields) plus "
        "scope='function'|'module'|'session', timeout=SECONDS, machines=[types for the matrix]")
    opt = config.option
    timeout = opt.driverkit_timeout
    if timeout is not None and timeout < 0:
        raise pytest.UsageError(f"--driverkit-timeout must be >= 0, got {timeout:g}")
    config.stash[OPTIONS] = Options(
        artifacts=_writable_dir("--driverkit-artifacts", opt.driverkit_artifacts),
        timeout=timeout or None,
        types=parse_types(opt.driverkit_machine),
        record=_writable_dir("--driverkit-record", opt.driverkit_record),
        replay=_replay_dir(opt.driverkit_replay),
    )


def _writable_dir(option: str, value: str | None) -> Path | None:
    """The directory an option names, created if missing and proven writable (a usage error
    at start, not an INTERNALERROR when the first test fails)."""
    if not value:
        return None
    path = Path(value).resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".driverkit-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise pytest.UsageError(f"{option} {value}: not a directory driverkit can write to "
                                f"({exc.strerror or exc})") from None
    return path


def _replay_dir(value: str | None) -> Path | None:
    """--driverkit-replay DIR: an existing directory holding recorded traces."""
    if not value:
        return None
    path = Path(value).resolve()
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise pytest.UsageError(f"--driverkit-replay {value}: {what} (record traces into it "
                                "with --driverkit-record DIR)")
    if not any(path.glob("*.jsonl")):
        raise pytest.UsageError(f"--driverkit-replay {value}: no recorded traces (*.jsonl) in "
                                "it (record them with --driverkit-record DIR)")
    return path
