"""PL011 UART (arm virt, 0x09000000, SPI 1): write a string, it shows up on the serial capture.

Offsets per the PL011 TRM (DDI0183). Measured on QEMU 7.2, and unlike the TRM: ILPR, IBRD,
FBRD, LCR_H, CR, IFLS, IMSC and DMACR store all 32 bits written (the TRM gives them 8/16/6/
8/16/6/11/3 bits), so they are declared as plain 32-bit RW registers here.
"""

from __future__ import annotations

import asyncio

from construct import BitsInteger, BitStruct, ByteSwapped, Flag, Int32ul

from driverkit.errors import MachineTimeout
from driverkit.regs import RO, RW, WO, Register

from .primecell import PrimeCellDriver, primecell_ids

BASE, SIZE, SPI = 0x09000000, 0x1000, 1
PRIMECELL_ID = bytes.fromhex("111014000df005b1")
FR_RESET, CR_RESET, IFLS_RESET = 0x90, 0x300, 0x12
CR_UARTEN_TXE = 0x101

Flags = ByteSwapped(
    BitStruct(
        "_rsvd" / BitsInteger(23),
        "ri" / Flag, "txfe" / Flag, "rxff" / Flag, "txff" / Flag, "rxfe" / Flag,
        "busy" / Flag, "dcd" / Flag, "dsr" / Flag, "cts" / Flag,
    )
)


class Pl011Regs(primecell_ids(PRIMECELL_ID)):
    size = SIZE
    dr = Register(0x00, Int32ul, RW, side_effects=True, doc="write sends; read pops the RX FIFO")
    rsr = Register(0x04, Int32ul, RO, reset=0, doc="receive status; a write (ECR) clears it")
    fr = Register(0x18, Flags, RO, reset=FR_RESET)
    ilpr = Register(0x20, Int32ul, RW, reset=0)
    ibrd = Register(0x24, Int32ul, RW, reset=0)
    fbrd = Register(0x28, Int32ul, RW, reset=0)
    lcr_h = Register(0x2C, Int32ul, RW, reset=0)
    cr = Register(0x30, Int32ul, RW, reset=CR_RESET)
    ifls = Register(0x34, Int32ul, RW, reset=IFLS_RESET)
    imsc = Register(0x38, Int32ul, RW, reset=0)
    ris = Register(0x3C, Int32ul, RO, reset=0)
    mis = Register(0x40, Int32ul, RO, reset=0)
    icr = Register(0x44, Int32ul, WO, side_effects=True)
    dmacr = Register(0x48, Int32ul, RW, reset=0)



class Pl011(PrimeCellDriver):
    """The virt board's PL011: transmit bytes; they appear in `m.console`."""

    name = "pl011"
    Regs = Pl011Regs
    regs: Pl011Regs
    spi = SPI

    base = BASE
    part = 0x011

    def enable(self) -> None:
        """Set UARTEN and TXE in CR (reset leaves UARTEN off; QEMU 7.2 sends anyway)."""
        cr = self.regs.cr.read()
        if cr & CR_UARTEN_TXE != CR_UARTEN_TXE:
            self.regs.cr.write(cr | CR_UARTEN_TXE)

    async def write(self, data: bytes | str, timeout: float = 5.0) -> None:
        """Send `data`, waiting for FIFO room before each byte (never forever)."""
        if isinstance(data, str):
            data = data.encode()
        self.enable()
        loop = asyncio.get_running_loop()
        for b in data:
            deadline = loop.time() + timeout
            while self.regs.fr.read().txff:
                if loop.time() > deadline:
                    raise MachineTimeout("PL011 TX FIFO to have room", timeout)
                await asyncio.sleep(0.001)
            self.regs.dr.write(b)
