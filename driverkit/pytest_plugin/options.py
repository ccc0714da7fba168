"""The plugin's command-line options and marker, checked once at start (bad values are usage
errors before any test runs)."""

from __future__ import annotations

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
    opts = config.stash[OPTIONS] = Options(
        artifacts=Path(opt.driverkit_artifacts).resolve() if opt.driverkit_artifacts else None,
        timeout=timeout or None,
        types=parse_types(opt.driverkit_machine),
        record=Path(opt.driverkit_record).resolve() if opt.driverkit_record else None,
        replay=Path(opt.driverkit_replay).resolve() if opt.driverkit_replay else None,
    )
    if opts.record is not None:
        opts.record.mkdir(parents=True, exist_ok=True)
