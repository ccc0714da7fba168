"""Fixtures for the driver tests: a fresh machine per test (layout checks expect reset state)."""

from __future__ import annotations

import pytest

from driverkit import Machine


@pytest.fixture
def launch():
    """`async with launch(Driver) as (m, drv)`: the machine the driver needs, device probed."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def _launch(driver, **fields):
        async with Machine(driver.machine_spec(**fields)) as m:
            yield m, await driver.probe(m)

    return _launch
