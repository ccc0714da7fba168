"""The plugin's test-run hooks: asyncio markers and the machine-type matrix at collection,
the deadline around each test's call, artifacts/recordings/REPLAYED in the reports, and the
terminal summary."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from . import artifacts, replay
from .config import SCOPE_RANK, allowed_types, marker_fields
from .deadline import Deadline
from .options import options
from .snapshots import snapshots
from .state import (
    CHECKOUTS,
    DEADLINE,
    FAILED,
    config_of,
    default_loop_scope,
    notes,
    uses_driverkit,
)

# --- collection: asyncio markers and the machine-type matrix --------------------------------


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
        if node.get_closest_marker("asyncio") is not None or not uses_driverkit(node):
            continue
        scope = "function"
        for mark in node.iter_markers("machine"):
            if "scope" in mark.kwargs:
                scope = mark.kwargs["scope"]
                break
        if scope in SCOPE_RANK and SCOPE_RANK[scope] > SCOPE_RANK[default_loop_scope(node.config)]:
            node.add_marker(pytest.mark.asyncio(loop_scope=scope))
        else:
            node.add_marker(pytest.mark.asyncio)
    return result


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """--driverkit-machine q35,pc: one test per machine type the test allows, ids [q35], [pc]."""
    types = options(metafunc.config).types
    if not types or "machine" not in metafunc.fixturenames:
        return
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


# --- deadlines ---------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Run the test under its deadline (marker timeout= or --driverkit-timeout)."""
    if not isinstance(item, pytest.Function) or not uses_driverkit(item):
        return (yield)
    timeout = config_of(item).timeout
    if not timeout:
        return (yield)

    def kill() -> None:
        for co in item.stash.get(CHECKOUTS, []):
            proc = getattr(co.machine, "process", None)
            if proc is not None:
                co.killed = True
                proc.kill()

    original = item.obj
    dl = item.stash[DEADLINE] = Deadline(timeout, kill, getattr(original, "__code__", None))
    swapped = inspect.iscoroutinefunction(original) and not hasattr(original, "hypothesis")
    if swapped:
        item.obj = dl.guard(original)
    dl.start_watchdog(grace=swapped)
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


# --- reports -----------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    mine = item.stash.get(CHECKOUTS, [])
    if report.when not in ("setup", "call") or not mine:
        return report
    opts = options(item.config)
    replay.label(report, mine)
    if report.failed:
        item.stash[FAILED] = True
        if opts.artifacts is not None:
            report.sections.append(("driverkit artifacts",
                                    artifacts.write_for(item, opts.artifacts, mine)))
    elif report.when == "call" and opts.record is not None:
        try:
            replay.record(item, mine, opts.record)
        except OSError as exc:  # the test passed; say the recording is missing, loudly
            problem = f"{item.nodeid}: its trace could not be recorded: {exc}"
            report.sections.append(("driverkit recording", problem))
            notes(item.config).append(problem)
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    return replay.status(report)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    said = notes(config) + snapshots(config).summary()
    root = options(config).replay
    if not said and root is None:
        return
    terminalreporter.section("driverkit")
    for note in said:
        terminalreporter.write_line(note)
    if root is not None:
        terminalreporter.write_line(replay.summary(root))


def pytest_unconfigure(config: pytest.Config) -> None:
    snapshots(config).remove_all()
