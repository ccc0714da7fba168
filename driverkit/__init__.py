"""driverkit: drive QEMU's emulated hardware from Python, and model a guest's physical memory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import DriverkitError
from .machine.spec import MachineSpec

if TYPE_CHECKING:
    from .machine.machine import Machine

__all__ = ["DriverkitError", "Machine", "MachineSpec"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Machine pulls in asyncio/qemu.qmp; importing it lazily keeps `driverkit.mem` light.
    if name == "Machine":
        from .machine.machine import Machine

        return Machine
    raise AttributeError(name)
