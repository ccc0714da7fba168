"""PL031 RTC (arm virt, 0x09010000, SPI 2): the seconds counter and its alarm interrupt.

Offsets per the PL031 TRM (DDI0224). Measured on QEMU 7.2, and unlike the TRM: CR reads 1
whatever is written (the RTC always runs), so it is declared RO with reset 1.
"""

from __future__ import annotations

from construct import Int32ul

from driverkit.regs import RO, RW, WO, Register

from .primecell import PrimeCellDriver, primecell_ids

BASE, SIZE, SPI = 0x09010000, 0x1000, 2
PRIMECELL_ID = bytes.fromhex("311014000df005b1")


class Pl031Regs(primecell_ids(PRIMECELL_ID)):
    size = SIZE
    dr = Register(0x00, Int32ul, RO, volatile=True, doc="seconds since the epoch")
    mr = Register(0x04, Int32ul, RW, reset=0, doc="alarm: interrupt when DR reaches it")
    lr = Register(0x08, Int32ul, RW, side_effects=True, doc="write sets the time")
    cr = Register(0x0C, Int32ul, RO, reset=1, doc="TRM: RW start bit; QEMU: always 1")
    imsc = Register(0x10, Int32ul, RW, reset=0, writable=0x1)
    ris = Register(0x14, Int32ul, RO, reset=0)
    mis = Register(0x18, Int32ul, RO, reset=0)
    icr = Register(0x1C, Int32ul, WO, side_effects=True)


class Pl031(PrimeCellDriver):
    """The virt board's PL031: read the time, raise and clear the alarm interrupt."""

    name = "pl031"
    Regs = Pl031Regs
    regs: Pl031Regs
    spi = SPI

    base = BASE
    part = 0x031

    def time(self) -> int:
        return self.regs.dr.read()

    async def alarm_now(self, timeout: float = 5.0) -> int:
        """Unmask the alarm and set MR = DR: the interrupt rises at once. Returns the line."""
        line = await self.irq_line()
        self.regs.imsc.write(1)
        self.regs.mr.write(self.regs.dr.read())
        await self.machine.irq.wait_raised(line, timeout)
        return line

    async def clear_alarm(self, timeout: float = 5.0) -> None:
        """Acknowledge (ICR=1), mask, and wait for the line to drop."""
        self.regs.icr.write(1)
        self.regs.imsc.write(0)
        await self.machine.irq.wait_lowered(await self.irq_line(), timeout)
