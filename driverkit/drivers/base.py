"""Shared plumbing of the device drivers: the Driver base class, the machine each driver needs,
DMA buffer addresses, and finding where a device's interrupt lands.

A driver is a class with `Regs` (its RegisterMap), `needs` (what machine it needs) and an
async classmethod `probe(machine)` that finds and enables the device and returns the driver,
whose `.regs` is the map bound to the device. The CLI (`driverkit regs/check DEVICE`) and the
tests use nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from driverkit.errors import ConfigError, DriverError
from driverkit.machine.spec import MachineSpec
from driverkit.regs import CheckReport, RegisterMap, dump

if TYPE_CHECKING:
    from driverkit.machine.machine import Machine
    from driverkit.pci.device import PciDevice

D = TypeVar("D", bound="Driver")


@dataclass(frozen=True)
class Needs:
    """What a driver needs of the machine: architecture, machine type, -device strings."""

    arch: str = "x86_64"
    machine: str | None = None
    devices: tuple[str, ...] = ()
    firmware: str | None = None


def device_type(device: str) -> str:
    """The QEMU device type of a -device string ("edu,addr=5" -> "edu")."""
    return device.split(",", 1)[0].strip()


def merge_devices(given: tuple[str, ...] | list[str], needed: tuple[str, ...]) -> tuple[str, ...]:
    """`given` plus every needed device whose type is not already there (the user's wins)."""
    have = {device_type(d) for d in given}
    return tuple(given) + tuple(d for d in needed if device_type(d) not in have)


class Driver:
    """Base of every driver (bundled ones in driverkit.devices). Subclasses set `name`, `Regs`, `needs`, `probe`."""

    name: ClassVar[str] = ""
    Regs: ClassVar[type[RegisterMap]]
    needs: ClassVar[Needs] = Needs()

    def __init__(self, machine: "Machine", regs: RegisterMap) -> None:
        self.machine = machine
        self.regs = regs

    @classmethod
    async def probe(cls: type[D], machine: "Machine") -> D:
        """Find and enable the device on `machine`; return the driver bound to it."""
        raise NotImplementedError

    @classmethod
    def machine_spec(cls, base: MachineSpec | None = None, **fields: Any) -> MachineSpec:
        """A MachineSpec this driver can probe on: `base` (or defaults) plus the driver's needs.

        The driver's architecture/machine win over defaults; an explicit conflicting choice
        (e.g. arch="x86_64" for a PL011) is refused with the reason.
        """
        n = cls.needs
        arch = fields.pop("arch", base.arch if base else n.arch)
        if arch != n.arch:
            raise ConfigError(f"driver {cls.name!r} needs arch {n.arch!r}, not {arch!r}")
        spec = base or MachineSpec(arch=arch, machine=fields.pop("machine", n.machine))
        if fields:
            spec = spec.with_(**fields)
        if n.machine is not None and spec.machine != n.machine:
            raise ConfigError(
                f"driver {cls.name!r} needs machine {n.machine!r}, not {spec.machine!r}"
            )
        changes: dict[str, Any] = {"devices": merge_devices(spec.devices, n.devices)}
        if n.firmware is not None:
            changes["firmware"] = n.firmware
        return spec.with_(**changes)

    def extra_maps(self) -> dict[str, RegisterMap]:
        """Further register maps of the device (e.g. a second BAR), by prefix."""
        return {}

    def check(self, *, destructive: bool = False) -> CheckReport:
        """The register layout test of this driver's map(s) against the live device.

        Findings of extra maps are appended with their prefix ("bar1.count").
        """
        report = type(self.regs).check(self.regs.iomem, base=self.regs.base,
                                       destructive=destructive)
        for prefix, regs in self.extra_maps().items():
            more = type(regs).check(regs.iomem, base=regs.base, destructive=destructive)
            report.findings += [replace(f, section=f"{prefix}.{f.section}")
                                for f in more.findings]
            report.target += f" + {prefix} {more.target}"
        return report

    def dump(self, *, destructive: bool = False) -> dict[str, Any]:
        """Every register decoded (JSON-ready; extra maps under "extra"); see driverkit.regs.dump."""
        out = dump(self.regs, destructive=destructive)
        extra = {p: dump(r, destructive=destructive) for p, r in self.extra_maps().items()}
        if extra:
            out["extra"] = extra
        return out

    def info(self) -> dict[str, Any]:
        """Identity of the bound device for listings (subclasses add to it)."""
        io = self.regs.iomem
        return {"driver": self.name, "space": io.space, "phys": io.phys, "size": io.size}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.regs.iomem!r}>"


# --- interrupts -------------------------------------------------------------------------------


async def pci_intx_line(machine: "Machine", dev: "PciDevice") -> int:
    """Intercept the machine's interrupt controller; return the line `dev`'s INTx lands on
    (the PCI layer's routing: IOAPIC GSI on x86, GIC SPI on arm)."""
    line = dev.irq_line()
    await machine.irq.intercept_controller()
    return line


async def controller_line(machine: "Machine", line: int) -> int:
    """Intercept the interrupt controller for an on-board device wired to `line`."""
    await machine.irq.intercept_controller()
    return line


# --- DMA buffers -------------------------------------------------------------------------------

def bus_addr(buf: Any) -> int:
    """The address a device uses for a DMA buffer (driverkit.io.dma's `.phys`, or `.addr`)."""
    for attr in ("phys", "addr"):
        if hasattr(buf, attr):
            return int(getattr(buf, attr))
    raise DriverError(f"{buf!r} is not a DMA buffer (no .phys/.addr)")
