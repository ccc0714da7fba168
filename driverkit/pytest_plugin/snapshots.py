"""The Linux guests of guest="linux" tests: booted once per spec (per pytest process), then
every test gets a fresh fork of the snapshot (driverkit.guest.snapshot)."""

from __future__ import annotations

import time

import pytest

from ..guest.snapshot import LinuxSnapshot
from ..machine.spec import MachineSpec


class Snapshots:
    """Snapshots by spec; a boot that failed is not retried for every test of that spec."""

    def __init__(self) -> None:
        self._taken: dict[MachineSpec, LinuxSnapshot] = {}
        self._failed: dict[MachineSpec, BaseException] = {}
        self.boot_seconds: dict[MachineSpec, float] = {}
        self.forks: dict[MachineSpec, int] = {}

    async def get(self, spec: MachineSpec) -> LinuxSnapshot:
        if spec in self._failed:
            raise self._failed[spec]
        snap = self._taken.get(spec)
        if snap is None:
            t0 = time.perf_counter()
            try:
                snap = await LinuxSnapshot.take(spec)
            except Exception as exc:
                self._failed[spec] = exc
                raise
            self.boot_seconds[spec] = time.perf_counter() - t0
            self._taken[spec] = snap
        self.forks[spec] = self.forks.get(spec, 0) + 1
        return snap

    def summary(self) -> list[str]:
        return [f"Linux guest {s.machine} {s.memory_bytes >> 20}M: booted and saved once "
                f"({self.boot_seconds[s]:.1f} s), {n} test(s) started from the snapshot"
                for s, n in self.forks.items() if s in self.boot_seconds]

    def remove_all(self) -> None:
        for snap in self._taken.values():
            snap.remove()
        self._taken.clear()


SNAPSHOTS = pytest.StashKey[Snapshots]()


def snapshots(config: pytest.Config) -> Snapshots:
    return config.stash.setdefault(SNAPSHOTS, Snapshots())
