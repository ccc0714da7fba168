"""driverkit's pytest plugin (pytest11 entry point): machine fixtures, markers, deadlines, artifacts.

    @pytest.mark.machine(devices=["edu"])       # MachineSpec fields; module/class markers merge
    async def test_edu(machine): ...            # no asyncio marker or config needed

Async tests that use driverkit get `pytest.mark.asyncio` at collection (with the
loop scope their machine needs), and the machine is started on the very event
loop the test runs on, whatever pytest-asyncio's mode. Plugin-only marker
arguments: scope ("function" | "module" | "session"), timeout (seconds),
machines (types the test may run on under --driverkit-machine).
"""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio

from ..errors import ConfigError
from ..machine.machine import Machine
from ..machine.replay import ReplayMachine
from ..machine.spec import MachineSpec
from . import artifacts
from .config import SCOPE_RANK, MachineConfig, parse_types, resolve, safe_name
from .deadline import Deadline
from .pool import SharedMachines

FIXTURES = ("machine", "machine_factory")
LOOP_SCOPES = ("function", "class", "module", "package", "session")
DEFAULT_TIMEOUT = 120.0


@dataclass
class Options:
    artifacts: Path | None
    timeout: float | None
    types: list[str]
    record: Path | None
    replay: Path | None


@dataclass
class Checkout:
    """A machine a test is using, and the loop it lives on (artifacts are collected there)."""

    machine: Any
    loop: asyncio.AbstractEventLoop | None
    label: str
    killed: bool = False


OPTIONS = pytest.StashKey[Options]()
CHECKOUTS = pytest.StashKey[list[Checkout]]()
CONFIG = pytest.StashKey[MachineConfig]()
DEADLINE = pytest.StashKey[Deadline]()
FAILED = pytest.StashKey[bool]()
POOL = pytest.StashKey[SharedMachines]()
NOTES = pytest.StashKey[list[str]]()


# --- options, markers ----------------------------------------------------------------------


def _default_asyncio_fixture_loop_scope_unset(config: pytest.Config) -> bool:
    try:
        return not config.getini("asyncio_default_fixture_loop_scope")
    except ValueError:  # pytest-asyncio not installed
        return False


def _default_asyncio_fixture_scope(config: pytest.Config) -> None:
    """A user with no asyncio config gets pytest-asyncio's future default ("function") instead
    of its deprecation warning; a configured value is left alone."""
    if _default_asyncio_fixture_loop_scope_unset(config):
        config._inicache["asyncio_default_fixture_loop_scope"] = "function"  # noqa: SLF001


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
        artifacts=Path(opt.driverkit_artifacts).resolve() if opt.driverkit_artifacts else None,
        timeout=timeout or None,
        types=parse_types(opt.driverkit_machine),
        record=Path(opt.driverkit_record).resolve() if opt.driverkit_record else None,
        replay=Path(opt.driverkit_replay).resolve() if opt.driverkit_replay else None,
    )
    config.stash[NOTES] = []
    if config.stash[OPTIONS].record is not None:
        config.stash[OPTIONS].record.mkdir(parents=True, exist_ok=True)


def _uses_driverkit(item: Any) -> bool:
    names = getattr(item, "fixturenames", ())
    return any(f in names for f in FIXTURES) or item.get_closest_marker("machine") is not None


def _config(item: pytest.Item) -> MachineConfig:
    """The item's MachineConfig, resolved once (ConfigError names the test)."""
    cfg = item.stash.get(CONFIG, None)
    if cfg is None:
        callspec = getattr(item, "callspec", None)
        mtype = callspec.params.get("_driverkit_machine_type") if callspec else None
        cfg = resolve(item, machine_type=mtype, default_timeout=item.config.stash[OPTIONS].timeout)
        item.stash[CONFIG] = cfg
    return cfg


# --- collection: asyncio markers and the machine-type matrix --------------------------------


def _default_loop_scope(config: pytest.Config) -> str:
    try:
        return config.getini("asyncio_default_test_loop_scope") or "function"
    except ValueError:
        return "function"


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_pycollect_makeitem(collector: Any, name: str, obj: object) -> Any:
    """Mark driverkit coroutine tests for pytest-asyncio before it decides what they are.

    Runs inside pytest-asyncio's own wrapper, so the marker is there when it converts
    the item; a shared machine gets a loop that lives as long as the machine.
    """
    result = yield
    nodes = result if isinstance(result, list) else [result] if result is not None else []
    for node in nodes:
        if not isinstance(node, pytest.Function) or not inspect.iscoroutinefunction(node.obj):
            continue
        if node.get_closest_marker("asyncio") is not None or not _uses_driverkit(node):
            continue
        scope = "function"
        for mark in node.iter_markers("machine"):
            if "scope" in mark.kwargs:
                scope = mark.kwargs["scope"]
                break
        if scope in SCOPE_RANK and SCOPE_RANK[scope] > SCOPE_RANK[_default_loop_scope(node.config)]:
            node.add_marker(pytest.mark.asyncio(loop_scope=scope))
        else:
            node.add_marker(pytest.mark.asyncio)
    return result


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """--driverkit-machine q35,pc: one test per machine type the test allows, ids [q35], [pc]."""
    types = metafunc.config.stash[OPTIONS].types
    if not types or "machine" not in metafunc.fixturenames:
        return
    from .config import allowed_types, marker_fields

    allowed = allowed_types(marker_fields(metafunc.definition))
    chosen = [t for t in types if t in allowed]
    if "_driverkit_machine_type" not in metafunc.fixturenames:
        metafunc.fixturenames.append("_driverkit_machine_type")
    if chosen:
        metafunc.parametrize("_driverkit_machine_type", chosen, indirect=True, ids=chosen)
    else:
        skip = pytest.mark.skip(reason=f"the test allows machine types {', '.join(allowed)}; "
                                       f"--driverkit-machine asked for {', '.join(types)}")
        metafunc.parametrize("_driverkit_machine_type", [pytest.param(None, marks=skip)],
                             indirect=True, ids=["+".join(types)])


@pytest.fixture(name="_driverkit_machine_type")
def _machine_type(request: pytest.FixtureRequest) -> str | None:
    return getattr(request, "param", None)


# --- fixtures ---------------------------------------------------------------------------------


def _asyncio_loop_scope(item: pytest.Item) -> str | None:
    """The event loop scope pytest-asyncio runs this coroutine test on; None for a sync test."""
    mark = item.get_closest_marker("asyncio")
    if mark is None or not inspect.iscoroutinefunction(getattr(item, "obj", None)):
        return None
    return (mark.kwargs.get("loop_scope") or mark.kwargs.get("scope")
            or _default_loop_scope(item.config))


def _test_loop_scope(item: pytest.Item, cfg: MachineConfig) -> str:
    """The event loop scope the test runs in (a sync test: the machine's own scope)."""
    return _asyncio_loop_scope(item) or cfg.scope


def _checkouts(item: pytest.Item) -> list[Checkout]:
    return item.stash.setdefault(CHECKOUTS, [])


@pytest.fixture
def machine(request: pytest.FixtureRequest) -> Machine:
    """A running Machine for the test's `machine` marker, on the test's own event loop.

    Fresh per test by default; marker scope="module"/"session" shares one machine
    between tests with the same spec and resets it in between (see pool.py).
    """
    item = request.node
    cfg = _config(item)
    loop_scope = _test_loop_scope(item, cfg)
    if cfg.scope != "function" and item.config.stash[OPTIONS].replay is None:
        if loop_scope != cfg.scope:
            raise ConfigError(
                f"{item.nodeid}: a {cfg.scope}-scoped machine must live on the {cfg.scope}'s "
                f"event loop, but the test runs on a {loop_scope}-scoped loop; drop the "
                f"asyncio marker (driverkit adds the right one) or use "
                f"loop_scope={cfg.scope!r}")
        item.stash[POOL] = request.getfixturevalue(f"_driverkit_pool_{cfg.scope}")
    return request.getfixturevalue(f"_driverkit_machine_{loop_scope}")


@pytest.fixture
def machine_factory(request: pytest.FixtureRequest) -> "MachineFactory":
    """`await machine_factory(devices=[...])` starts another machine; all stop at teardown."""
    loop_scope = _asyncio_loop_scope(request.node) or "function"
    return request.getfixturevalue(f"_driverkit_factory_{loop_scope}")


class MachineFactory:
    """Starts machines for one test; each is stopped (and reaped) when the test ends."""

    def __init__(self, item: pytest.Item) -> None:
        self._item = item
        self.machines: list[Machine] = []

    async def __call__(self, spec: MachineSpec | None = None, **fields: Any) -> Machine:
        if self._item.config.stash[OPTIONS].replay is not None:
            pytest.skip("machine_factory needs QEMU; it is not available under --driverkit-replay")
        m = Machine(spec, **fields)
        self.machines.append(m)
        _checkouts(self._item).append(
            Checkout(m, asyncio.get_running_loop(), f"factory-{len(self.machines)}"))
        await m.start()
        return m

    async def aclose(self) -> None:
        for m in reversed(self.machines):
            await m.close()


async def _machine_gen(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    item = request.node
    cfg = _config(item)
    opts = item.config.stash[OPTIONS]
    checkouts = _checkouts(item)
    loop = asyncio.get_running_loop()
    if opts.replay is not None:
        path = opts.replay / f"{safe_name(item.nodeid)}.jsonl"
        if not path.is_file():
            pytest.skip(f"no recorded trace {path.name} in {opts.replay} "
                        "(record one with --driverkit-record)")
        rm = ReplayMachine.load(path)
        checkouts.append(Checkout(rm, loop, "machine"))
        item.user_properties.append(("driverkit", "replay"))
        yield rm
        if not item.stash.get(FAILED, False):
            rm.finish()
        return
    pool = item.stash.get(POOL, None)
    if pool is None:
        m = Machine(cfg.spec)
        co = Checkout(m, loop, "machine")
        checkouts.append(co)
        try:
            await m.start()
            yield m
        finally:
            await m.close()
        return
    m = await pool.acquire(cfg.spec, item.nodeid)
    co = Checkout(m, loop, "machine")
    checkouts.append(co)
    try:
        yield m
    finally:
        await pool.release(m, item.nodeid, killed=co.killed)
        item.config.stash[NOTES].extend(pool.notes)
        pool.notes.clear()


async def _factory_gen(request: pytest.FixtureRequest) -> AsyncIterator[MachineFactory]:
    factory = MachineFactory(request.node)
    try:
        yield factory
    finally:
        await factory.aclose()


async def _pool_gen(scope: str) -> AsyncIterator[SharedMachines]:
    pool = SharedMachines(scope)
    try:
        yield pool
    finally:
        await pool.close_all()


def _define_fixtures() -> None:
    """One machine/factory fixture per loop scope, so each runs on its test's loop."""
    g = globals()
    for ls in LOOP_SCOPES:
        async def m_fix(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
            async for m in _machine_gen(request):
                yield m

        async def f_fix(request: pytest.FixtureRequest) -> AsyncIterator[MachineFactory]:
            async for f in _factory_gen(request):
                yield f

        g[f"_driverkit_machine_{ls}"] = pytest_asyncio.fixture(
            m_fix, loop_scope=ls, name=f"_driverkit_machine_{ls}")
        g[f"_driverkit_factory_{ls}"] = pytest_asyncio.fixture(
            f_fix, loop_scope=ls, name=f"_driverkit_factory_{ls}")
    for scope in ("module", "session"):
        def make(scope: str = scope) -> Any:
            async def p_fix() -> AsyncIterator[SharedMachines]:
                async for p in _pool_gen(scope):
                    yield p
            return p_fix

        g[f"_driverkit_pool_{scope}"] = pytest_asyncio.fixture(
            make(), scope=scope, loop_scope=scope, name=f"_driverkit_pool_{scope}")


_define_fixtures()


# --- deadlines ---------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Run the test under its deadline (marker timeout= or --driverkit-timeout)."""
    if not isinstance(item, pytest.Function) or not _uses_driverkit(item):
        return (yield)
    timeout = _config(item).timeout
    if not timeout:
        return (yield)

    def kill() -> None:
        for co in item.stash.get(CHECKOUTS, []):
            proc = getattr(co.machine, "process", None)
            if proc is not None:
                co.killed = True
                proc.kill()

    dl = item.stash[DEADLINE] = Deadline(timeout, kill)
    original = item.obj
    swapped = inspect.iscoroutinefunction(original) and not hasattr(original, "hypothesis")
    if swapped:
        item.obj = dl.guard(original)
    dl.start_watchdog()
    try:
        return (yield)
    except BaseException as exc:
        if dl.expired and not isinstance(exc, TimeoutError):
            raise dl.error() from exc
        raise
    finally:
        dl.stop_watchdog()
        if swapped:
            item.obj = original


# --- reports: artifacts, recordings, the replay label -------------------------------------------


def _run_on(loop: asyncio.AbstractEventLoop | None, coro: Any) -> Any:
    """Run a coroutine on the (idle) loop a machine lives on, from a report hook."""
    if loop is None or loop.is_closed() or loop.is_running():
        coro.close()
        return None
    return loop.run_until_complete(coro)


def _write_artifacts(item: pytest.Item, root: Path, checkouts: list[Checkout]) -> str:
    dest = artifacts.reset_dir(root / safe_name(item.nodeid))
    lines = [f"artifacts: {dest}"]
    for co in checkouts:
        where = dest if len(checkouts) == 1 else dest / co.label
        try:
            summary = _run_on(co.loop, asyncio.wait_for(artifacts.collect(co.machine, where), 30))
        except Exception as exc:  # noqa: BLE001 - never mask the test's own failure
            summary = f"collecting artifacts failed: {exc!r}"
        lines.append(f"{co.label}: {summary or 'event loop unavailable; nothing collected'}")
    return "\n".join(lines)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    checkouts = item.stash.get(CHECKOUTS, [])
    if report.when not in ("setup", "call") or not checkouts:
        return report
    opts = item.config.stash[OPTIONS]
    if any(getattr(co.machine, "label", "") == "replay" for co in checkouts):
        report.user_properties = list(report.user_properties)
        if ("driverkit", "replay") not in report.user_properties:
            report.user_properties.append(("driverkit", "replay"))
    if report.failed:
        item.stash[FAILED] = True
        if opts.artifacts is not None:
            report.sections.append(("driverkit artifacts",
                                    _write_artifacts(item, opts.artifacts, checkouts)))
    elif report.when == "call" and opts.record is not None:
        for co in checkouts:
            if co.label == "machine" and isinstance(co.machine, Machine):
                co.machine.trace.meta.setdefault("spec", artifacts.spec_dict(co.machine.spec))
                co.machine.trace.meta.setdefault("test", item.nodeid)
                co.machine.trace.dump(opts.record / f"{safe_name(item.nodeid)}.jsonl")
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    """Replayed tests say so: 'REPLAYED' (verbose) / 'R' (quiet) instead of PASSED."""
    if report.when == "call" and report.passed and \
            ("driverkit", "replay") in getattr(report, "user_properties", ()):
        return "passed", "R", ("REPLAYED", {"green": True})
    return None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    notes = config.stash.get(NOTES, [])
    opts = config.stash.get(OPTIONS, None)
    if not notes and not (opts and opts.replay):
        return
    terminalreporter.section("driverkit")
    for note in notes:
        terminalreporter.write_line(note)
    if opts and opts.replay:
        terminalreporter.write_line(f"machine tests ran in REPLAY from {opts.replay} (no QEMU): "
                                    "they prove the driver repeats the recorded accesses only")
