"""Machines shared by tests with the same spec (marker scope "module"/"session"), reset between.

Reset between two tests: `Machine.reset()` (devices and CPUs back to power-on state,
PCI BARs unassigned; mappings unmapped, the PCI bus enumerated afresh on next use, BAR
overlays, resource claims, the DMA pool and IRQ levels forgotten), then the trace and
the QMP event list are cleared. Guest RAM is
NOT cleared (a reset does not clear it on real hardware either).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import DriverkitError, MachineLeftUnusable
from ..machine.machine import DEFAULT_ACCESS_CHECK, RESET_TIMEOUT, Machine
from ..machine.spec import MachineSpec


async def reset_machine(m: Machine) -> None:
    """Bring a running machine back to a fresh-looking state (see the module docstring)."""
    await m.reset(timeout=RESET_TIMEOUT)
    m.events.clear()
    m.trace.clear()
    m.check_accesses(DEFAULT_ACCESS_CHECK)  # a test that turned it off does not for the next


@dataclass
class _Entry:
    machine: Machine
    users: list[str] = field(default_factory=list)
    busy: bool = False


class SharedMachines:
    """The shared machines of one scope (a module, or the session), keyed by spec."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self._entries: dict[MachineSpec, _Entry] = {}
        self.notes: list[str] = []
        """Things the terminal summary should tell (a machine found dead between tests)."""

    async def acquire(self, spec: MachineSpec, nodeid: str) -> Machine:
        """The shared machine for `spec`, started on first use or after its predecessor died."""
        entry = self._entries.get(spec)
        if entry is not None and (entry.busy or not entry.machine.alive):
            self._entries.pop(spec)
            if not entry.machine.alive and not entry.busy:
                self.notes.append(f"shared {self.scope} machine died after {entry.users[-1]}; "
                                  f"{nodeid} got a fresh one")
            await entry.machine.close()
            entry = None
        if entry is None:
            m = Machine(spec)
            await m.start()
            entry = self._entries[spec] = _Entry(m)
        entry.busy = True
        entry.users.append(nodeid)
        return entry.machine

    async def release(self, m: Machine, nodeid: str, *, killed: bool = False) -> None:
        """Reset the machine for the next test, or drop it and name `nodeid` as the culprit.

        killed=True: the plugin killed it (deadline), which the test's failure already says.
        """
        entry = self._entries.get(m.spec)
        if entry is None or entry.machine is not m:
            await m.close()
            return
        entry.busy = False
        problem = None
        if not m.alive:
            problem = str(m.process.died() if m.process is not None else "it is closed")
        else:
            try:
                await reset_machine(m)
            except (DriverkitError, OSError) as exc:
                problem = f"its reset failed: {exc}"
        if problem is None:
            return
        self._entries.pop(m.spec, None)
        await m.close()
        if not killed:
            raise MachineLeftUnusable(
                f"{nodeid} left the shared {self.scope}-scoped machine "
                f"({m.spec.arch} {m.spec.machine}) unusable: {problem}. "
                "The next test that shares it gets a fresh machine.")

    async def close_all(self) -> None:
        entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            await entry.machine.close()
