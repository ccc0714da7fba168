"""The plugin's fixtures: `machine` and `machine_factory`, each generated once per event-loop
scope so the machine starts on the very loop its test runs on, and the shared-machine pools."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Literal

import pytest
import pytest_asyncio

from ..errors import ConfigError
from ..machine.like import MachineLike
from ..machine.machine import Machine
from ..machine.spec import MachineSpec
from . import replay
from .options import options
from .pool import SharedMachines
from .snapshots import snapshots
from .state import (
    FAILED,
    POOL,
    Checkout,
    asyncio_loop_scope,
    checkouts,
    config_of,
    notes,
)

LoopScope = Literal["function", "class", "module", "package", "session"]
LOOP_SCOPES: tuple[LoopScope, ...] = ("function", "class", "module", "package", "session")


@pytest.fixture
def machine(request: pytest.FixtureRequest) -> MachineLike:
    """A running Machine for the test's `machine` marker, on the test's own event loop.

    Fresh per test by default; marker scope="module"/"session" shares one machine
    between tests with the same spec and resets it in between (see pool.py). Under
    --driverkit-replay it is a ReplayMachine (both are MachineLike).
    """
    item = request.node
    cfg = config_of(item)
    loop_scope = asyncio_loop_scope(item) or cfg.scope  # a sync test: the machine's own scope
    if cfg.scope != "function" and options(item.config).replay is None:
        if loop_scope != cfg.scope:
            raise ConfigError(
                f"{item.nodeid}: a {cfg.scope}-scoped machine must live on the {cfg.scope}'s "
                f"event loop, but the test runs on a {loop_scope}-scoped loop; drop the "
                f"asyncio marker (driverkit adds the right one) or use "
                f"loop_scope={cfg.scope!r}")
        item.stash[POOL] = request.getfixturevalue(f"_driverkit_pool_{cfg.scope}")
    m: MachineLike = request.getfixturevalue(f"_driverkit_machine_{loop_scope}")
    return m


@pytest.fixture
def machine_factory(request: pytest.FixtureRequest) -> MachineFactory:
    """`await machine_factory(devices=[...])` starts another machine; all stop at teardown."""
    loop_scope = asyncio_loop_scope(request.node) or "function"
    f: MachineFactory = request.getfixturevalue(f"_driverkit_factory_{loop_scope}")
    return f


@pytest.fixture(name="_driverkit_machine_type")
def _machine_type(request: pytest.FixtureRequest) -> str | None:
    """The machine type of this test under --driverkit-machine (parametrized by hooks.py)."""
    return getattr(request, "param", None)


class MachineFactory:
    """Starts machines for one test; each is stopped (and reaped) when the test ends."""

    def __init__(self, item: pytest.Item) -> None:
        self._item = item
        self.machines: list[Machine] = []

    async def __call__(self, spec: MachineSpec | None = None, **fields: Any) -> Machine:
        if options(self._item.config).replay is not None:
            pytest.skip("machine_factory needs QEMU; it is not available under --driverkit-replay")
        m = Machine(spec, **fields)
        self.machines.append(m)
        checkouts(self._item).append(
            Checkout(m, asyncio.get_running_loop(), f"factory-{len(self.machines)}"))
        await m.start()
        return m

    async def aclose(self) -> None:
        for m in reversed(self.machines):
            await m.close()


async def _machine_gen(request: pytest.FixtureRequest) -> AsyncIterator[MachineLike]:
    item = request.node
    cfg = config_of(item)
    opts = options(item.config)
    mine = checkouts(item)
    loop = asyncio.get_running_loop()
    if cfg.guest is not None and opts.replay is not None:
        pytest.skip(f"guest={cfg.guest!r} tests need QEMU; not run under --driverkit-replay")
    if opts.replay is not None:
        rm = replay.load(item, opts.replay)
        mine.append(Checkout(rm, loop, "machine"))
        yield rm
        if not item.stash.get(FAILED, False):
            rm.finish()
        return
    pool = item.stash.get(POOL, None)
    if pool is not None:
        shared = await pool.acquire(cfg.spec, item.nodeid)
        co = Checkout(shared, loop, "machine")
        mine.append(co)
        try:
            yield shared
        finally:
            await pool.release(shared, item.nodeid, killed=co.killed)
            notes(item.config).extend(pool.notes)
            pool.notes.clear()
        return
    # a machine of its own: fresh, or a fork of the guest's snapshot
    m = (Machine(cfg.spec) if cfg.guest is None
         else (await snapshots(item.config).get(cfg.spec)).fork())
    mine.append(Checkout(m, loop, "machine"))
    try:
        await m.start()
        yield m
    finally:
        await m.close()


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
        async def m_fix(request: pytest.FixtureRequest) -> AsyncIterator[MachineLike]:
            async for m in _machine_gen(request):
                yield m

        async def f_fix(request: pytest.FixtureRequest) -> AsyncIterator[MachineFactory]:
            async for f in _factory_gen(request):
                yield f

        g[f"_driverkit_machine_{ls}"] = pytest_asyncio.fixture(
            m_fix, loop_scope=ls, name=f"_driverkit_machine_{ls}")
        g[f"_driverkit_factory_{ls}"] = pytest_asyncio.fixture(
            f_fix, loop_scope=ls, name=f"_driverkit_factory_{ls}")
    shared: tuple[LoopScope, ...] = ("module", "session")
    for scope in shared:
        def make(scope: LoopScope = scope) -> Any:
            async def p_fix() -> AsyncIterator[SharedMachines]:
                async for p in _pool_gen(scope):
                    yield p
            return p_fix

        g[f"_driverkit_pool_{scope}"] = pytest_asyncio.fixture(
            make(), scope=scope, loop_scope=scope, name=f"_driverkit_pool_{scope}")


_define_fixtures()
