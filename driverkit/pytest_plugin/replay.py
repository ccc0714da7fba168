"""Record and replay: under --driverkit-record the trace of each passing test's `machine` is
saved; under --driverkit-replay `machine` is a ReplayMachine over that trace (no QEMU) and the
test is reported as REPLAYED."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..machine.machine import Machine
from ..machine.replay import ReplayMachine
from .artifacts import spec_dict
from .config import safe_name
from .state import Checkout

PROPERTY = ("driverkit", "replay")


def trace_path(root: Path, item: pytest.Item) -> Path:
    return root / f"{safe_name(item.nodeid)}.jsonl"


def load(item: pytest.Item, root: Path) -> ReplayMachine:
    """The test's recorded machine; the test is skipped if nothing was recorded for it."""
    path = trace_path(root, item)
    if not path.is_file():
        pytest.skip(f"no recorded trace {path.name} in {root} "
                    "(record one with --driverkit-record)")
    item.user_properties.append(PROPERTY)
    return ReplayMachine.load(path)


def record(item: pytest.Item, checkouts: list[Checkout], root: Path) -> None:
    """Save the trace of the test's `machine` (a real one) for a later replay."""
    for co in checkouts:
        if co.label == "machine" and isinstance(co.machine, Machine):
            co.machine.trace.meta.setdefault("spec", spec_dict(co.machine.spec))
            co.machine.trace.meta.setdefault("test", item.nodeid)
            co.machine.trace.dump(trace_path(root, item))


def label(report: pytest.TestReport, checkouts: list[Checkout]) -> None:
    """Mark the report of a replayed test so its status can say REPLAYED."""
    if any(isinstance(co.machine, ReplayMachine) for co in checkouts):
        report.user_properties = list(report.user_properties)
        if PROPERTY not in report.user_properties:
            report.user_properties.append(PROPERTY)


def status(report: pytest.TestReport) -> Any:
    """'REPLAYED' (verbose) / 'R' (quiet) instead of PASSED for a replayed test."""
    if report.when == "call" and report.passed and \
            PROPERTY in getattr(report, "user_properties", ()):
        return "passed", "R", ("REPLAYED", {"green": True})
    return None


def summary(root: Path) -> str:
    return (f"machine tests ran in REPLAY from {root} (no QEMU): "
            "they prove the driver repeats the recorded accesses only")
