"""Per-machine PCI facts: how to reach config space, which address windows BARs come from,
where I/O ports live, and where a root-bus INTx pin lands on the interrupt controller.

Facts from QEMU 7.2's board code (q35/ICH9, pc/PIIX3, arm virt/GPEX); see docs in each entry.
"""

from __future__ import annotations

from dataclasses import dataclass

Q35_ECAM = 0xB000_0000
VIRT_ECAM_HIGH = 0x40_1000_0000
VIRT_ECAM_LOW = 0x3F00_0000  # 16 buses, when highmem is off
VIRT_PIO_WINDOW = 0x3EFF_0000
VIRT_PCIE_SPI_BASE = 3  # GPEX INTA..INTD are SPIs 3..6
ICH9_PIRQ_GSI_BASE = 16
PIIX3_PIRQ_ROUTE = 0x60  # PIRQA..D route registers, bit 7 = disabled
BARE_PIIX3_ROUTES = (10, 10, 11, 11)  # what we program (SeaBIOS picks the same)


@dataclass(frozen=True)
class Window:
    """An address range [start, end) that BARs of one kind are assigned from."""

    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class PciPlatform:
    """Where the PCI host bridge of one machine type puts things."""

    machine: str
    io: Window
    mem32: Window
    mem64: Window
    io_cpu_base: int | None  # CPU address of I/O port 0 when ports are MMIO-mapped (arm)
    ecam: int | None  # ECAM base when it is always there (arm virt)

    def without_high_mmio(self) -> "PciPlatform":
        """No window above 4 GiB (arm virt,highmem=off): split the 32-bit one, the upper half
        for 64-bit prefetchable BARs, so the two kinds never overlap."""
        mid = self.mem32.start + (self.mem32.size // 2 & ~0xFFFFF)
        return PciPlatform(self.machine, self.io, Window(self.mem32.start, mid),
                           Window(mid, self.mem32.end), self.io_cpu_base, self.ecam)

    def root_intx_line(self, slot: int, pin: int, cfg_read=None) -> int:
        """The interrupt controller input for INT(A+pin) of a root-bus device in `slot`.

        `cfg_read(bdf, offset, width)` reads chipset config where routing is programmable.
        """
        if self.machine == "q35":
            # ICH9 (QEMU lpc_ich9.c): slots 25-29 and 31 follow the D<n>IR registers, whose
            # reset value 0x3210 maps INTA-D to PIRQA-D; every other slot is wired to PIRQ
            # (slot + pin) % 4 + 4 (E-H). The IOAPIC sees PIRQ n at GSI 16 + n, always.
            if slot in (25, 26, 27, 28, 29, 31):
                pirq = pin
            else:
                pirq = (slot + pin) % 4 + 4
            return ICH9_PIRQ_GSI_BASE + pirq
        if self.machine == "pc":
            # PIIX3: PIRQ (slot - 1 + pin) & 3, then the route register at 0x60 + pirq of the
            # ISA bridge (00:01.0) picks the ISA IRQ (IOAPIC input = ISA IRQ number).
            from ..errors import PciError

            pirq = (slot - 1 + pin) & 3
            if cfg_read is None:
                raise PciError("pc INTx routing needs the PIIX3 route registers")
            route = cfg_read((0, 1, 0), PIIX3_PIRQ_ROUTE + pirq, 1)
            if route & 0x80 or route >= 16:
                raise PciError(f"PIRQ{'ABCD'[pirq]} is not routed (PIIX3 register "
                               f"{PIIX3_PIRQ_ROUTE + pirq:#x} = {route:#04x})")
            return route
        # arm virt: GPEX swizzles (slot + pin) % 4 onto SPIs 3..6; qtest's GIC line n = SPI n.
        return VIRT_PCIE_SPI_BASE + (slot + pin) % 4


_X86_IO = Window(0xC000, 0x10000)
_X86_MEM32 = Window(0xC000_0000, 0xFEC0_0000)  # below the IOAPIC
_X86_MEM64 = Window(0x10_0000_0000, 0x80_0000_0000)

PLATFORMS = {
    "q35": PciPlatform("q35", _X86_IO, _X86_MEM32, _X86_MEM64, None, None),
    "pc": PciPlatform("pc", _X86_IO, _X86_MEM32, _X86_MEM64, None, None),
    "virt": PciPlatform(
        "virt",
        Window(0x1000, 0x10000),  # port numbers inside the PIO window
        Window(0x1000_0000, 0x3EFF_0000),
        Window(0x80_0000_0000, 0x100_0000_0000),
        VIRT_PIO_WINDOW,
        VIRT_ECAM_HIGH,
    ),
}


def platform_for(machine: str, low_ram_end: int = 0) -> PciPlatform:
    """The platform of `machine`, its 32-bit window moved above low RAM if RAM reaches it."""
    plat = PLATFORMS[machine]
    if plat.io_cpu_base is None and low_ram_end > plat.mem32.start:
        start = (low_ram_end + 0xFFF_FFFF) & ~0xFFF_FFFF
        plat = PciPlatform(plat.machine, plat.io, Window(start, plat.mem32.end), plat.mem64,
                           plat.io_cpu_base, plat.ecam)
    return plat
