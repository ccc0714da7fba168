"""A machine's life as one explicit state, with every transition logged.

not started -> starting -> running -> closing -> closed; any of starting/running can
end in died (QEMU exited on its own), and died -> closing -> closed still cleans up.
A Machine is started once: a closed one is not restarted (make a new Machine).
"""

from __future__ import annotations

import enum
import logging

from ..errors import MachineStateError

log = logging.getLogger("driverkit.machine")


class MachineState(enum.Enum):
    NOT_STARTED = "not started"
    STARTING = "starting"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"
    DIED = "died"


_ALLOWED = {
    MachineState.NOT_STARTED: {MachineState.STARTING, MachineState.CLOSED},
    MachineState.STARTING: {MachineState.RUNNING, MachineState.CLOSING, MachineState.DIED},
    MachineState.RUNNING: {MachineState.CLOSING, MachineState.DIED},
    MachineState.DIED: {MachineState.CLOSING},
    MachineState.CLOSING: {MachineState.CLOSED},
    MachineState.CLOSED: set(),
}


class Lifecycle:
    """The state of one machine; `require` is the guard every public call goes through."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = MachineState.NOT_STARTED

    def to(self, new: MachineState, why: str = "") -> None:
        old = self.state
        if new is old:
            return
        if new not in _ALLOWED[old]:
            raise MachineStateError(f"{self.name}: cannot go from {old.value} to {new.value}")
        self.state = new
        log.info("%s: %s -> %s%s", self.name, old.value, new.value, f" ({why})" if why else "")

    def require(self, what: str, *states: MachineState) -> None:
        """Raise MachineStateError naming `what` unless the state is one of `states`."""
        if self.state not in states:
            allowed = " or ".join(s.value for s in states)
            raise MachineStateError(f"{what} needs a machine that is {allowed}; "
                                    f"{self.name} is {self.state.value}")
