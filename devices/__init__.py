"""Drivers for QEMU's emulated devices, one module each (registered as driverkit.devices entry points)."""
