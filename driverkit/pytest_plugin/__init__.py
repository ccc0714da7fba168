"""driverkit's pytest plugin (pytest11 entry point): machine fixtures, markers, deadlines, artifacts.

    @pytest.mark.machine(devices=["edu"])       # MachineSpec fields; module/class markers merge
    async def test_edu(machine): ...            # no asyncio marker or config needed

Async tests that use driverkit get `pytest.mark.asyncio` at collection (with the
loop scope their machine needs), and the machine is started on the very event
loop the test runs on, whatever pytest-asyncio's mode. Plugin-only marker
arguments: scope ("function" | "module" | "session"), timeout (seconds),
machines (types the test may run on under --driverkit-machine).

Parts: options (command line, checked at start), hooks (collection, deadlines, reports),
fixtures (machine, machine_factory), artifacts (what a failing test leaves), replay
(record/replay of traces), pool (shared machines), config (markers -> MachineConfig),
deadline, state (what the parts share about a test). The `machine` fixture is a
`MachineLike` (driverkit.machine.like): a Machine, or a ReplayMachine under replay.
"""

from __future__ import annotations

from typing import Any

from ..machine.like import IrqLike, MachineLike

# pytest registers these parts as plugins of their own; they are not imported here first, so
# pytest's assertion rewriting still applies to them.
pytest_plugins = [
    "driverkit.pytest_plugin.options",
    "driverkit.pytest_plugin.hooks",
    "driverkit.pytest_plugin.fixtures",
]

__all__ = ["IrqLike", "MachineFactory", "MachineLike"]


def __getattr__(name: str) -> Any:
    if name == "MachineFactory":
        from .fixtures import MachineFactory

        return MachineFactory
    raise AttributeError(name)
