"""Drivers by name, from the "driverkit.devices" entry-point group (third-party drivers too)."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from driverkit.errors import DriverError, UnknownDriver

from .base import Driver

GROUP = "driverkit.devices"


def registered() -> dict[str, EntryPoint]:
    """Every registered driver's entry point, by name."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def names() -> list[str]:
    return sorted(registered())


def load(name: str) -> type[Driver]:
    """The driver class registered as `name` (accepts "pci-testdev" for "pci_testdev")."""
    eps = registered()
    ep = eps.get(name) or eps.get(name.replace("-", "_"))
    if ep is None:
        raise UnknownDriver(
            f"no driver {name!r} in entry-point group {GROUP!r}; registered: "
            + (", ".join(sorted(eps)) or "none (is driverkit installed?)")
        )
    cls = ep.load()
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        raise DriverError(f"entry point {ep.name} = {ep.value} is not a driverkit.drivers.Driver")
    return cls
