"""What the plugin's parts share about one test: the machines it checked out, its resolved
MachineConfig, its deadline, whether it failed; and the session's notes for the summary."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass

import pytest

from ..machine.like import MachineLike
from .config import MachineConfig, resolve
from .deadline import Deadline
from .options import options
from .pool import SharedMachines

FIXTURES = ("machine", "machine_factory")


@dataclass
class Checkout:
    """A machine a test is using, and the loop it lives on (artifacts are collected there)."""

    machine: MachineLike
    loop: asyncio.AbstractEventLoop | None
    label: str
    killed: bool = False


CHECKOUTS = pytest.StashKey[list[Checkout]]()
CONFIG = pytest.StashKey[MachineConfig]()
DEADLINE = pytest.StashKey[Deadline]()
FAILED = pytest.StashKey[bool]()
POOL = pytest.StashKey[SharedMachines]()
NOTES = pytest.StashKey[list[str]]()


def uses_driverkit(item: pytest.Item) -> bool:
    names = getattr(item, "fixturenames", ())
    return any(f in names for f in FIXTURES) or item.get_closest_marker("machine") is not None


def config_of(item: pytest.Item) -> MachineConfig:
    """The item's MachineConfig, resolved once (ConfigError names the test)."""
    cfg = item.stash.get(CONFIG, None)
    if cfg is None:
        callspec = getattr(item, "callspec", None)
        mtype = callspec.params.get("_driverkit_machine_type") if callspec else None
        cfg = resolve(item, machine_type=mtype, default_timeout=options(item.config).timeout)
        item.stash[CONFIG] = cfg
    return cfg


def checkouts(item: pytest.Item) -> list[Checkout]:
    return item.stash.setdefault(CHECKOUTS, [])


def notes(config: pytest.Config) -> list[str]:
    return config.stash.setdefault(NOTES, [])


def default_loop_scope(config: pytest.Config) -> str:
    try:
        return str(config.getini("asyncio_default_test_loop_scope") or "function")
    except ValueError:
        return "function"


def asyncio_loop_scope(item: pytest.Item) -> str | None:
    """The event loop scope pytest-asyncio runs this coroutine test on; None for a sync test."""
    mark = item.get_closest_marker("asyncio")
    if mark is None or not inspect.iscoroutinefunction(getattr(item, "obj", None)):
        return None
    return (mark.kwargs.get("loop_scope") or mark.kwargs.get("scope")
            or default_loop_scope(item.config))
