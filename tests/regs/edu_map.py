"""An edu (PCI 1234:11e8) register map, per QEMU's docs/specs/edu.txt, for driverkit.regs tests.

Kept in the tests: devices/edu.py is another engineer's driver. It shows the facts a
declaration can carry for the check: the inverted liveness read-back, 4-byte-only
access below 0x80, and registers whose writes start work (side_effects=True).
"""

from __future__ import annotations

from construct import BitsInteger, BitStruct, ByteSwapped, Flag, Int32ul, Int64ul

from driverkit.regs import RO, RW, WO, Register, RegisterMap

EDU_VENDOR, EDU_DEVICE = 0x1234, 0x11E8
MASK32 = 0xFFFFFFFF

Status = ByteSwapped(
    BitStruct(
        "_rsvd_hi" / BitsInteger(24),
        "irq_on_fact" / Flag,  # raise IRQ 0x1 when the factorial is done
        "_rsvd_lo" / BitsInteger(6),
        "computing" / Flag,  # RO
    )
)


class EduRegs(RegisterMap):
    id = Register(0x00, Int32ul, RO, reset=0x010000ED, widths=(4,))
    liveness = Register(
        0x04, Int32ul, RW, reset=0, widths=(4,), readback=lambda written: ~written & MASK32
    )
    factorial = Register(0x08, Int32ul, RW, side_effects=True, widths=(4,))  # a write computes
    status = Register(0x20, Status, RW, reset=0, widths=(4,), fields={"computing": RO})
    irq_status = Register(0x24, Int32ul, RO, reset=0, widths=(4,))
    irq_raise = Register(0x60, Int32ul, WO, widths=(4,))
    irq_ack = Register(0x64, Int32ul, WO, widths=(4,))
    # 64-bit: QEMU 7.2 accepts a 4-byte access at +0 (low half) but not at +4 (reads
    # 0xffffffff), so the whole register is only readable with 8-byte accesses.
    dma_src = Register(0x80, Int64ul, RW, reset=0, widths=(8,))
    dma_dst = Register(0x88, Int64ul, RW, reset=0, widths=(8,))
    dma_count = Register(0x90, Int64ul, RW, reset=0, widths=(8,))
    dma_cmd = Register(0x98, Int64ul, RW, reset=0, side_effects=True, widths=(8,))
