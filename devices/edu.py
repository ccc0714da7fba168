"""edu (PCI 1234:11e8), QEMU's teaching device: ID, liveness, factorial, interrupts, DMA.

Facts from QEMU's docs/specs/edu.rst, checked against QEMU 7.2: only 4-byte accesses below
0x80; the 4 KiB DMA buffer sits at device address 0x40000 and is not visible through BAR0;
DMA runs on a 100 ms virtual-time timer (the VM must be running). QEMU 7.2 aborts the whole
VM for a DMA that touches the buffer's last byte (fixed in 8.2.1), so this driver refuses
such requests before touching the device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from construct import BitsInteger, BitStruct, ByteSwapped, Flag, Int32ul, Int64ul

from driverkit.drivers import Driver, Needs, bus_addr, pci_intx_line
from driverkit.errors import DeviceRefused
from driverkit.regs import RO, RW, WO, Register, RegisterMap

if TYPE_CHECKING:
    from driverkit.machine.machine import Machine
    from driverkit.pci.device import PciDevice

VENDOR, DEVICE = 0x1234, 0x11E8
ID_RESET = 0x010000ED  # version 1.0, "ED"
MASK32 = 0xFFFFFFFF
DMA_BUF_ADDR = 0x40000  # device address of the 4 KiB buffer
DMA_BUF_SIZE = 0x1000
DMA_SAFE_END = DMA_BUF_SIZE - 1  # QEMU 7.2: a DMA may not touch the last byte
DMA_MASK = (1 << 28) - 1  # the device's default dma_mask property
DMA_START, DMA_TO_RAM, DMA_IRQ = 0x1, 0x2, 0x4
IRQ_FACTORIAL, IRQ_DMA = 0x1, 0x100

Status = ByteSwapped(
    BitStruct(
        "_rsvd_hi" / BitsInteger(24),
        "irq_on_fact" / Flag,  # raise IRQ 0x1 when the factorial is done
        "_rsvd_lo" / BitsInteger(6),
        "computing" / Flag,  # RO: the factorial is in progress
    )
)

DmaCmd = ByteSwapped(
    BitStruct(
        "_rsvd" / BitsInteger(61),
        "irq" / Flag,  # raise IRQ 0x100 when done
        "to_ram" / Flag,  # 1: device buffer -> RAM, 0: RAM -> device buffer
        "start" / Flag,  # write 1 to start; reads 1 while the transfer is pending
    )
)


class EduRegs(RegisterMap):
    """BAR0 of edu. Writes to factorial/irq_raise/irq_ack/dma_cmd start work (side effects)."""

    size = 0x100000
    id = Register(0x00, Int32ul, RO, reset=ID_RESET, widths=(4,))
    liveness = Register(0x04, Int32ul, RW, reset=0, widths=(4,),
                        readback=lambda written: ~written & MASK32,
                        doc="reads back the bitwise inverse of what was written")
    # Writes start work that QEMU finishes on its own; volatile keeps even a destructive check
    # from pattern-writing them (0xffffffff! computes for ages; a DMA from a pattern address
    # makes QEMU 7.2 abort the VM).
    factorial = Register(0x08, Int32ul, RW, side_effects=True, volatile=True, widths=(4,))
    status = Register(0x20, Status, RW, reset=0, widths=(4,), fields={"computing": RO})
    irq_status = Register(0x24, Int32ul, RO, reset=0, widths=(4,))
    irq_raise = Register(0x60, Int32ul, WO, side_effects=True, widths=(4,))
    irq_ack = Register(0x64, Int32ul, WO, side_effects=True, widths=(4,))
    # QEMU 7.2 serves a 4-byte access only at the register's own offset (the low half, and a
    # 4-byte write zeroes the high half); 4 bytes at +4 read all-ones and drop writes. So the
    # 64-bit registers are accessed 8 bytes wide, although the doc says "4 or 8 byte access".
    dma_src = Register(0x80, Int64ul, RW, reset=0, widths=(8,))
    dma_dst = Register(0x88, Int64ul, RW, reset=0, widths=(8,))
    dma_count = Register(0x90, Int64ul, RW, reset=0, widths=(8,))
    dma_cmd = Register(0x98, DmaCmd, RW, reset=0, side_effects=True, volatile=True, widths=(8,))


def check_dma_request(offset: int, count: int, ram_addr: int) -> None:
    """Refuse a transfer QEMU 7.2 would abort the VM for, or that cannot reach `ram_addr`."""
    if count <= 0:
        raise DeviceRefused(f"edu DMA count must be > 0, got {count}")
    if offset < 0 or offset + count > DMA_SAFE_END:
        raise DeviceRefused(
            f"edu DMA of {count:#x} bytes at buffer offset {offset:#x} (device "
            f"{DMA_BUF_ADDR + offset:#x}-{DMA_BUF_ADDR + offset + count - 1:#x}) touches the last "
            f"byte of the 4 KiB buffer or beyond: QEMU 7.2 aborts the VM for that (fixed in 8.2.1)."
            f" Allowed: offset + count <= {DMA_SAFE_END:#x}, at most {DMA_SAFE_END} bytes"
        )
    if ram_addr < 0 or ram_addr + count - 1 > DMA_MASK:
        raise DeviceRefused(
            f"edu DMA RAM range {ram_addr:#x}+{count:#x} exceeds the device's dma_mask "
            f"{DMA_MASK:#x}"
        )


class Edu(Driver):
    """The edu device: `await Edu.probe(m)`, then liveness/factorial/interrupts/DMA."""

    name = "edu"
    Regs = EduRegs
    needs = Needs(devices=("edu",))
    regs: EduRegs

    def __init__(self, machine: "Machine", regs: EduRegs, pci: "PciDevice") -> None:
        super().__init__(machine, regs)
        self.pci = pci
        self._irq_line: int | None = None

    @classmethod
    async def probe(cls, machine: "Machine") -> "Edu":
        dev = machine.pci.find(vendor=VENDOR, device=DEVICE)
        dev.enable()  # memory decoding and bus mastering (DMA), verified by read-back
        return cls(machine, EduRegs(dev.iomap(0)), dev)

    def info(self) -> dict:
        return {**super().info(), "pci": self.pci.address, "id": self.regs.id.read()}

    @property
    def version(self) -> tuple[int, int]:
        v = self.regs.id.read()
        return v >> 24, (v >> 16) & 0xFF

    def alive(self, value: int = 0x12345678) -> bool:
        """The liveness check: the device must return the bitwise inverse of `value`."""
        self.regs.liveness.write(value)
        return self.regs.liveness.read() == ~value & MASK32

    # --- factorial ------------------------------------------------------------------------

    async def factorial(self, n: int, *, use_irq: bool = False, timeout: float = 5.0) -> int:
        """n! modulo 2**32, computed by the device; waits for completion (polled or by IRQ)."""
        if not 0 <= n <= MASK32:
            raise DeviceRefused(f"factorial input {n} does not fit the 32-bit register")
        if use_irq:
            line = await self.irq_line()
            self.regs.status.modify(irq_on_fact=1)
            self.regs.factorial.write(n)
            await self.machine.irq.wait_raised(line, timeout)
            self.ack(IRQ_FACTORIAL)
            self.regs.status.modify(irq_on_fact=0)
        else:
            self.regs.factorial.write(n)
            await self.regs.status.wait_for(computing=0, timeout=timeout)
        return self.regs.factorial.read()

    # --- interrupts -----------------------------------------------------------------------

    async def irq_line(self) -> int:
        """The interrupt-controller input edu's INTx lands on (intercepting it on first use)."""
        if self._irq_line is None:
            self._irq_line = await pci_intx_line(self.machine, self.pci)
        return self._irq_line

    def raise_irq(self, bits: int) -> None:
        """Set bits in the interrupt status; INTx asserts while any are set."""
        self.regs.irq_raise.write(bits)

    def ack(self, bits: int) -> None:
        """Clear bits in the interrupt status (INTx deasserts when none are left)."""
        self.regs.irq_ack.write(bits)

    @property
    def irq_status(self) -> int:
        return self.regs.irq_status.read()

    # --- DMA ------------------------------------------------------------------------------

    async def dma_to_device(self, buf: Any, count: int | None = None, *,
                            buf_offset: int = 0, dev_offset: int = 0, use_irq: bool = False,
                            timeout: float = 5.0) -> None:
        """Copy `count` bytes from a DMA buffer into the device's buffer at `dev_offset`."""
        count = buf.size - buf_offset if count is None else count
        await self._dma(bus_addr(buf) + buf_offset, dev_offset, count, False, use_irq, timeout, buf)

    async def dma_from_device(self, buf: Any, count: int | None = None, *,
                              buf_offset: int = 0, dev_offset: int = 0, use_irq: bool = False,
                              timeout: float = 5.0) -> None:
        """Copy `count` bytes from the device's buffer at `dev_offset` into a DMA buffer."""
        count = buf.size - buf_offset if count is None else count
        await self._dma(bus_addr(buf) + buf_offset, dev_offset, count, True, use_irq, timeout, buf)

    async def _dma(self, ram: int, dev_offset: int, count: int, to_ram: bool, use_irq: bool,
                   timeout: float, buf: Any) -> None:
        if ram < bus_addr(buf) or ram + count > bus_addr(buf) + buf.size:
            raise DeviceRefused(f"edu DMA of {count:#x} bytes at {ram:#x} overruns {buf!r}")
        check_dma_request(dev_offset, count, ram)
        if self.regs.dma_cmd.read().start:
            raise DeviceRefused("edu DMA already in progress (dma_cmd.start is set)")
        dev = DMA_BUF_ADDR + dev_offset
        self.regs.dma_src.write(dev if to_ram else ram)
        self.regs.dma_dst.write(ram if to_ram else dev)
        self.regs.dma_count.write(count)
        line = await self.irq_line() if use_irq else None
        self.regs.dma_cmd.write(start=1, to_ram=int(to_ram), irq=int(use_irq))
        if line is not None:
            await self.machine.irq.wait_raised(line, timeout)
            status = self.irq_status
            if not status & IRQ_DMA:
                raise DeviceRefused(f"edu raised its IRQ with status {status:#x}, not DMA done")
            self.ack(IRQ_DMA)
        await self.regs.dma_cmd.wait_for(start=0, timeout=timeout)
