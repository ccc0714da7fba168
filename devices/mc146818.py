"""MC146818 RTC / CMOS (x86 ports 0x70 index, 0x71 data; ISA IRQ 8).

Registers per the Motorola MC146818A data sheet: time and alarm bytes 0x00-0x09, control
A (UIP, divider, rate select), B (SET, PIE, AIE, UIE, SQWE, DM, 24/12, DSE), C (IRQF, PF, AF,
UF; cleared by reading) and D (VRT), CMOS RAM from 0x0e. Reached through an index/data port
pair, so the register map is bound to `IndexedPorts`, a window that selects each register
before the data access. Measured on QEMU 7.2 with `-rtc clock=vm` (the stepped clock sets it,
so the RTC follows virtual time) and checked against QEMU's rtc-test.c: periodic interrupt at
32768 >> (RS - 1) Hz, update-ended flag once a second, alarm when seconds/minutes/hours match.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from construct import Int8ul

from driverkit.drivers import Driver, Needs
from driverkit.errors import DeviceRefused, WidthError
from driverkit.io.iomem import IoMem
from driverkit.regs import RO, RW, Register, RegisterMap

if TYPE_CHECKING:
    from driverkit.machine.machine import Machine

INDEX_PORT, CMOS_SIZE = 0x70, 0x80
NMI_DISABLE = 0x80
REG_A_DEFAULT = 0x26  # 32.768 kHz divider, 1024 Hz periodic rate
A_UIP, B_SET, B_PIE, B_AIE, B_UIE, B_DM, B_24H = 0x80, 0x80, 0x40, 0x20, 0x10, 0x04, 0x02
C_IRQF, C_PF, C_AF, C_UF = 0x80, 0x40, 0x20, 0x10


class IndexedPorts:
    """A register window behind an index port and a data port (CMOS style): byte accesses only."""

    def __init__(self, ports: IoMem, size: int, name: str = "cmos") -> None:
        self._ports = ports
        self._size = size
        self._name = name

    size = property(lambda self: self._size)
    name = property(lambda self: self._name)
    space = property(lambda self: "io")
    phys = property(lambda self: self._ports.phys)

    def _select(self, off: int, width: int) -> None:
        if width != 1:
            raise WidthError(f"{self._name} registers are bytes behind an index port; "
                             f"a {width}-byte access at {off:#x} does not exist")
        self._ports.writeb(0, off | NMI_DISABLE)

    def read_width(self, off: int, width: int) -> int:
        self._select(off, width)
        return self._ports.readb(1)

    def write_width(self, off: int, width: int, value: int) -> None:
        self._select(off, width)
        self._ports.writeb(1, value)


def _time(offset: int, doc: str) -> Register:
    return Register(offset, Int8ul, RW, volatile=True, doc=doc)


class Mc146818Regs(RegisterMap):
    size = CMOS_SIZE
    seconds = _time(0x00, "BCD or binary (B.DM)")
    seconds_alarm = Register(0x01, Int8ul, RW)
    minutes = _time(0x02, "")
    minutes_alarm = Register(0x03, Int8ul, RW)
    hours = _time(0x04, "")
    hours_alarm = Register(0x05, Int8ul, RW)
    day_of_week = _time(0x06, "")
    day_of_month = _time(0x07, "")
    month = _time(0x08, "")
    year = _time(0x09, "")
    reg_a = Register(0x0A, Int8ul, RW, reset=REG_A_DEFAULT, writable=0x7F,
                     doc="bit7 UIP (RO), DV 6-4, RS 3-0")
    reg_b = Register(0x0B, Int8ul, RW, reset=B_24H, side_effects=True,
                     doc="SET PIE AIE UIE SQWE DM 24/12 DSE; writing SET clears UIE (data sheet, "
                         "and QEMU: 0xff reads back 0xef)")
    reg_c = Register(0x0C, Int8ul, RO, reset=0, side_effects=True,
                     doc="IRQF PF AF UF; reading clears")
    reg_d = Register(0x0D, Int8ul, RO, reset=0x80, doc="bit7 VRT: the battery is good")


class Mc146818(Driver):
    """Time of day, the periodic interrupt, update-ended and alarm flags."""

    name = "mc146818"
    Regs = Mc146818Regs
    regs: Mc146818Regs
    needs = Needs(arch="x86_64")

    @classmethod
    async def probe(cls, machine: "Machine") -> "Mc146818":
        ports = machine.ioport_map(INDEX_PORT, 2, name="rtc")
        regs = Mc146818Regs(IndexedPorts(ports, CMOS_SIZE))
        if regs.reg_d.read() != 0x80:
            raise DeviceRefused(f"no MC146818 at port {INDEX_PORT:#x}: register D reads "
                                f"{regs.reg_d.read():#x}, expected 0x80 (VRT)")
        return cls(machine, regs)

    def binary(self) -> None:
        """Binary (not BCD), 24-hour mode, interrupts off."""
        self.regs.reg_b.write(B_DM | B_24H)

    def set_time(self, hours: int, minutes: int, seconds: int) -> None:
        """Set the clock (SET held while writing, as the data sheet asks); binary mode."""
        b = self.regs.reg_b.read()
        self.regs.reg_b.write(b | B_SET | B_DM | B_24H)
        self.regs.hours.write(hours)
        self.regs.minutes.write(minutes)
        self.regs.seconds.write(seconds)
        self.regs.reg_b.write((b | B_DM | B_24H) & ~B_SET)

    def time(self) -> tuple[int, int, int]:
        return self.regs.hours.read(), self.regs.minutes.read(), self.regs.seconds.read()

    def periodic(self, rate: int) -> float:
        """Periodic interrupt at 32768 >> (rate - 1) Hz (rate 3..15); returns its period in ns."""
        if not 3 <= rate <= 15:
            raise DeviceRefused(f"rate select {rate} outside 3..15")
        self.regs.reg_a.write((REG_A_DEFAULT & 0x70) | rate)
        self.regs.reg_b.write(self.regs.reg_b.read() | B_PIE)
        return 1e9 / (32768 >> (rate - 1))

    def flags(self) -> int:
        """Register C (reading clears it)."""
        return self.regs.reg_c.read()
