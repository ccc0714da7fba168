"""pci-testdev (PCI 1b36:0005): QEMU's ioeventfd test device, BAR0 4 KiB MMIO, BAR1 256 B I/O.

Writing N to byte 0 of a BAR selects that BAR's test N (0-2); the header then describes it:
`test` (QEMU's global test number: MMIO 0-2, port I/O 3-5), `width`, `offset` (the doorbell),
`data`, `count` (doorbell hits) and `name`. Writing `data` at `offset` with `width` bumps
`count`. Before any selection every byte reads 0. Layout as measured on QEMU 7.2: `data`
is one byte followed by 3 pad bytes (the reference text calls it a u32).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from construct import Int8ul, Int32ul

from driverkit.drivers import Driver, Needs
from driverkit.errors import DeviceRefused
from driverkit.regs import RO, WO, Register, RegisterArray, RegisterMap

if TYPE_CHECKING:
    from driverkit.io.iomem import IoMem
    from driverkit.machine.machine import Machine
    from driverkit.pci.device import PciDevice

VENDOR, DEVICE = 0x1B36, 0x0005
TESTS_PER_BAR = 3
NAME_OFFSET, NAME_WORDS = 0x10, 8


class PciTestdevRegs(RegisterMap):
    """BAR0 (MMIO): the header of the selected test, and the three doorbells at 0x800."""

    size = 0x1000
    test = Register(0x00, Int8ul, RO, reset=0, side_effects=True,
                    doc="write N to select test N (changes the whole header)")
    width = Register(0x01, Int8ul, RO, reset=0)
    offset = Register(0x04, Int32ul, RO, reset=0)
    data = Register(0x08, Int8ul, RO, reset=0)
    count = Register(0x0C, Int32ul, RO, reset=0)
    name = RegisterArray(Register(NAME_OFFSET, Int32ul, RO, reset=0), NAME_WORDS)
    doorbell = RegisterArray(Register(0x800, Int8ul, WO, side_effects=True), TESTS_PER_BAR)


class PciTestdevIoRegs(PciTestdevRegs):
    """BAR1 (I/O ports): the same header; doorbells at 0x83."""

    size = 0x100
    doorbell = RegisterArray(Register(0x83, Int8ul, WO, side_effects=True), TESTS_PER_BAR)


class PciTestdev(Driver):
    """pci-testdev: list its tests and ring their doorbells through MMIO and port I/O."""

    name = "pci_testdev"
    Regs = PciTestdevRegs
    needs = Needs(devices=("pci-testdev",))
    regs: PciTestdevRegs

    def __init__(self, machine: "Machine", regs: PciTestdevRegs, io_regs: PciTestdevIoRegs,
                 pci: "PciDevice") -> None:
        super().__init__(machine, regs)
        self.io_regs = io_regs
        self.pci = pci

    @classmethod
    async def probe(cls, machine: "Machine") -> "PciTestdev":
        dev = machine.pci.find(vendor=VENDOR, device=DEVICE)
        dev.enable(master=False)
        return cls(machine, PciTestdevRegs(dev.iomap(0)), PciTestdevIoRegs(dev.iomap(1)), dev)

    def info(self) -> dict:
        return {**super().info(), "pci": self.pci.address, "io_port": self.io_regs.iomem.phys}

    def extra_maps(self) -> dict[str, PciTestdevRegs]:
        return {"bar1": self.io_regs}

    def _bar(self, space: str) -> PciTestdevRegs:
        if space not in ("mem", "io"):
            raise DeviceRefused(f"pci-testdev space must be 'mem' or 'io', got {space!r}")
        return self.regs if space == "mem" else self.io_regs

    def select(self, n: int, space: str = "mem") -> dict:
        """Select test `n` of a BAR and return its decoded header."""
        if not 0 <= n < TESTS_PER_BAR:
            raise DeviceRefused(f"pci-testdev has tests 0-{TESTS_PER_BAR - 1} per BAR, not {n}")
        regs = self._bar(space)
        regs.iomem.writeb(0, n)
        return self.header(space)

    def header(self, space: str = "mem") -> dict:
        regs = self._bar(space)
        raw = b"".join(w.read().to_bytes(4, "little") for w in regs.name)
        return {"test": regs.test.read(), "width": regs.width.read(), "offset": regs.offset.read(),
                "data": regs.data.read(), "count": regs.count.read(),
                "name": raw.split(b"\0", 1)[0].decode("ascii", "replace")}

    def tests(self) -> list[dict]:
        """Every test of both BARs, with its space and local number."""
        return [{"space": s, "n": n, **self.select(n, s)}
                for s in ("mem", "io") for n in range(TESTS_PER_BAR)]

    def ring(self, n: int, space: str = "mem", times: int = 1) -> int:
        """Ring test `n`'s doorbell `times` times as its header says; return the new count."""
        h = self.select(n, space)
        io: "IoMem" = self._bar(space).iomem
        if h["width"] not in (1, 2, 4) or h["offset"] + h["width"] > io.size:
            raise DeviceRefused(f"pci-testdev test {n} header makes no sense: {h}")
        for _ in range(times):
            io.write_width(h["offset"], h["width"], h["data"])
        return self._bar(space).count.read()
