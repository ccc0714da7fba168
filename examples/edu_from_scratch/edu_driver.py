"""A driver written from scratch for QEMU's `edu` teaching device (PCI 1234:11e8).

Facts from QEMU's docs/specs/edu.txt: BAR0 is 1 MiB of MMIO; 0x00 identification
0x010000ED; 0x04 liveness reads back the bitwise inverse of what was written;
0x08 factorial: write n, the device computes n! in the background while status
bit 0 ("computing") is set.
"""

from __future__ import annotations

import asyncio

from construct import BitsInteger, BitStruct, ByteSwapped, Flag, Int32ul

from driverkit.errors import MachineTimeout
from driverkit.regs import RO, RW, Register, RegisterMap

VENDOR, DEVICE = 0x1234, 0x11E8

Status = ByteSwapped(BitStruct(
    "_rsvd_hi" / BitsInteger(24),
    "irq_on_fact" / Flag,
    "_rsvd_lo" / BitsInteger(6),
    "computing" / Flag,
))


class EduRegs(RegisterMap):
    id = Register(0x00, Int32ul, RO, reset=0x010000ED, widths=(4,))
    liveness = Register(0x04, Int32ul, RW, reset=0, widths=(4,),
                        readback=lambda written: ~written & 0xFFFFFFFF)
    factorial = Register(0x08, Int32ul, RW, side_effects=True, widths=(4,))
    status = Register(0x20, Status, RW, reset=0, widths=(4,), fields={"computing": RO})


class EduDriver:
    """probe() finds and enables the device; factorial() waits, with a deadline, for the result."""

    def __init__(self, machine) -> None:
        dev = machine.pci.find(vendor=VENDOR, device=DEVICE)
        dev.enable()
        self.bar0 = dev.iomap(0)
        self.regs = EduRegs(self.bar0)

    def alive(self) -> bool:
        self.regs.liveness.write(0x5A5A0F0F)
        return self.regs.liveness.read() == 0xA5A5F0F0

    async def factorial(self, n: int, timeout: float = 2.0) -> int:
        self.regs.factorial.write(n)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.regs.status.read().computing:
            if loop.time() > deadline:
                raise MachineTimeout(f"edu to finish computing {n}!", timeout)
            await asyncio.sleep(0.001)
        return self.regs.factorial.read()
