"""The driver framework: the `Driver` base class every driver derives from, and the registry
that finds drivers by name in the "driverkit.devices" entry-point group.

The bundled drivers live in the source folder devices/ and install as `driverkit.devices`;
third-party drivers register in the same group and use nothing else from here.
"""

from .base import (
    Driver,
    Needs,
    bus_addr,
    controller_line,
    device_type,
    merge_devices,
    pci_intx_line,
)
from .registry import GROUP, load, names, registered

__all__ = [
    "GROUP", "Driver", "Needs", "bus_addr", "controller_line", "device_type", "load",
    "merge_devices", "names", "pci_intx_line", "registered",
]
