"""ARM PrimeCell identification registers (0xfe0-0xffc): shared by PL011, PL031, PL061."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from construct import Int32ul

from driverkit.drivers import Driver, Needs, controller_line
from driverkit.errors import DeviceRefused
from driverkit.regs import RO, Register, RegisterMap

if TYPE_CHECKING:
    from driverkit.machine.machine import Machine

CELL_ID = 0xB105F00D


def id_register(index: int, value: int) -> Register:
    """PeriphID0-3 (index 0-3) or PCellID0-3 (4-7): one ID byte in a 32-bit word."""
    return Register(0xFE0 + 4 * index, Int32ul, RO, reset=value)


def primecell_ids(ids: tuple[int, ...] | list[int]) -> type[RegisterMap]:
    """A register-map base holding the eight ID registers with their reset values; a device's
    map subclasses it (class Pl011Regs(primecell_ids(PRIMECELL_ID)): ...)."""
    names = [f"periph_id{i}" for i in range(4)] + [f"pcell_id{i}" for i in range(4)]
    return type("PrimeCellIds", (RegisterMap,),
                {name: id_register(i, ids[i]) for i, name in enumerate(names)})


def decode_id(words: list[int]) -> dict:
    """Part number, designer and revision from PeriphID0-3; the cell ID as an int."""
    pid = sum((w & 0xFF) << (8 * i) for i, w in enumerate(words[:4]))
    cid = sum((w & 0xFF) << (8 * i) for i, w in enumerate(words[4:]))
    return {"part": pid & 0xFFF, "designer": (pid >> 12) & 0xFF, "revision": (pid >> 20) & 0xF,
            "cell_id": cid}


def primecell_words(regs: RegisterMap) -> list[int]:
    """PeriphID0-3 then PCellID0-3, as read from a map that declares them (id_register)."""
    return [getattr(regs, f"{k}_id{i}").read() for k in ("periph", "pcell") for i in range(4)]


class PrimeCellDriver(Driver):
    """A PrimeCell peripheral at a fixed address of the arm virt board, recognised by its part
    number, its interrupt wired to GIC SPI `spi`."""

    needs = Needs(arch="aarch64", machine="virt")
    base: ClassVar[int]
    size: ClassVar[int] = 0x1000
    part: ClassVar[int]
    spi: ClassVar[int]

    @classmethod
    async def probe(cls, machine: "Machine"):
        regs = cls.Regs(machine.ioremap(cls.base, cls.size, name=cls.name))
        ident = decode_id(primecell_words(regs))
        if ident["part"] != cls.part or ident["cell_id"] != CELL_ID:
            raise DeviceRefused(f"no {cls.name.upper()} at {cls.base:#x}: PrimeCell ID {ident}")
        return cls(machine, regs)

    async def irq_line(self) -> int:
        """The GIC input (SPI number) of the device, intercepted."""
        return await controller_line(self.machine, self.spi)

    def info(self) -> dict:
        return {**super().info(), **decode_id(primecell_words(self.regs))}
