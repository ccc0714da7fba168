"""Drivers for QEMU's emulated devices, one module each. This folder installs as
`driverkit.devices` (setuptools package-dir); each driver is registered in the "driverkit.devices"
entry-point group and builds on driverkit.drivers (the base class and the registry)."""
