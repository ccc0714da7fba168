"""PCI: config space (ports, ECAM), enumeration through bridges, BAR sizing/assignment,
capabilities, INTx routing, enable."""

from .bus import PciBus
from .caps import Capability, MsiCapability, MsixCapability
from .device import Bar, PciDevice
from .firmware import wait_for_firmware

__all__ = ["Bar", "Capability", "MsiCapability", "MsixCapability", "PciBus", "PciDevice",
           "wait_for_firmware"]
