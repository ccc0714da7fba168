"""ICH9 TCO watchdog (q35: the LPC bridge's PM I/O block + 0x60).

Registers per the Intel ICH9 data sheet (13.9 TCO I/O): TCO_RLD (write: reload), TCO1/TCO2
status and control, TCO_TMR (initial count, 10 bits, ticks of 0.6 s). The bare firmware
programs no PMBASE, so probe() enables the ACPI I/O block itself (LPC config 0x40 PMBASE,
0x44 ACPI_EN), as a BIOS would. Measured on QEMU 7.2 and checked against QEMU's tco-test.c:
the timer counts down from TCO_TMR once reloaded, the first expiry sets TCO1_STS.TIMEOUT
and reloads, the second sets TCO2_STS.SECOND_TO_STS (QEMU's ICH9-LPC noreboot=on default
keeps the machine up); TCO1_CNT.TMR_HLT stops it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from construct import Int8ul, Int16ul

from driverkit.drivers import Driver, Needs
from driverkit.errors import DeviceRefused
from driverkit.regs import RW, W1C, WO, Register, RegisterMap

if TYPE_CHECKING:
    from driverkit.machine.machine import Machine

LPC = (0x8086, 0x2918)  # ICH9 LPC interface, 00:1f.0
PMBASE = 0x600  # where SeaBIOS puts it too
TCO_OFFSET, TCO_SIZE = 0x60, 0x20
TICK_NS = 600_000_000
TIMEOUT_STS, SECOND_TO_STS, TMR_HLT = 0x08, 0x02, 0x0800


class TcoRegs(RegisterMap):
    size = TCO_SIZE
    rld = Register(0x00, Int16ul, RW, reset=0, side_effects=True,
                   doc="read: current count; write: reload from TCO_TMR")
    dat_in = Register(0x02, Int8ul, RW, reset=0, side_effects=True)
    dat_out = Register(0x03, Int8ul, RW, reset=0, side_effects=True)
    tco1_sts = Register(0x04, Int16ul, W1C, reset=0, doc="bit3 TIMEOUT")
    tco2_sts = Register(0x06, Int16ul, W1C, reset=0, doc="bit1 SECOND_TO_STS")
    tco1_cnt = Register(0x08, Int16ul, RW, reset=0, side_effects=True, doc="bit11 TMR_HLT")
    tco2_cnt = Register(0x0A, Int16ul, RW, reset=0x0008)
    message1 = Register(0x0C, Int8ul, RW, reset=0)
    message2 = Register(0x0D, Int8ul, RW, reset=0)
    wdcnt = Register(0x0E, Int8ul, RW, reset=0)
    sw_irq_gen = Register(0x10, Int8ul, RW, reset=0x03, side_effects=True)
    tmr = Register(0x12, Int16ul, RW, reset=0x0004, side_effects=True,
                   doc="initial count in 0.6 s ticks (bits 9:0)")
    _pad = Register(0x14, Int16ul, WO, side_effects=True, doc="reserved")


class Tco(Driver):
    """Arm, reload and halt the watchdog; see its two expiry stages."""

    name = "tco"
    Regs = TcoRegs
    regs: TcoRegs
    needs = Needs(arch="x86_64", machine="q35")

    @classmethod
    async def probe(cls, machine: "Machine") -> "Tco":
        if machine.spec.machine != "q35":
            raise DeviceRefused(f"the TCO watchdog is the q35 ICH9's, not {machine.spec.machine}'s")
        lpc = machine.pci.find(vendor=LPC[0], device=LPC[1])
        base = lpc.read_config(0x40, 4) & 0xFF80
        if base == 0:  # no firmware set it up: do what a BIOS does
            lpc.write_config(0x40, 4, PMBASE | 1)
            lpc.write_config(0x44, 1, lpc.read_config(0x44, 1) | 0x80)
            base = PMBASE
        io = machine.ioport_map(base + TCO_OFFSET, TCO_SIZE, name="tco")
        return cls(machine, TcoRegs(io))

    def arm(self, ticks: int) -> None:
        """Count `ticks` x 0.6 s from now (TCO_TMR, reload, halt bit off), status cleared."""
        if not 2 <= ticks <= 0x3FF:
            raise DeviceRefused(f"TCO_TMR {ticks} outside 2..1023 ticks")
        self.regs.tmr.write(ticks)
        self.regs.tco1_sts.write(TIMEOUT_STS)
        self.regs.tco2_sts.write(SECOND_TO_STS)
        self.regs.tco1_cnt.write(self.regs.tco1_cnt.read() & ~TMR_HLT)
        self.regs.rld.write(1)

    def halt(self) -> None:
        self.regs.tco1_cnt.write(self.regs.tco1_cnt.read() | TMR_HLT)

    def stage(self) -> int:
        """0 not expired, 1 first timeout seen, 2 second timeout seen."""
        if self.regs.tco2_sts.read() & SECOND_TO_STS:
            return 2
        return 1 if self.regs.tco1_sts.read() & TIMEOUT_STS else 0
