"""ARM CMSDK APB timer and UART (mps2-an385: timers 0x40000000/0x40001000, UART0 0x40004000).

From the Cortex-M System Design Kit TRM (DDI0479): timer CTRL/VALUE/RELOAD/INTSTATUS, UART
DATA/STATE/CTRL/INTSTATUS/BAUDDIV, and both carry the CoreSight-style peripheral ID block
(PID4 0xfd0, PID0-3 0xfe0, CID0-3 0xff0). Measured on QEMU 7.2 with the stepped clock
(tests/devices/test_cmsdk.py), checked against QEMU's cmsdk-apb-timer-test.c: the timer
counts at the board's 25 MHz APB clock (40 ns), VALUE decrements on each edge, INTSTATUS
sets when the count passes zero and stays until cleared with a 1, VALUE reloads from RELOAD.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from construct import Int32ul

from driverkit.drivers import Driver, Needs
from driverkit.errors import DeviceRefused
from driverkit.regs import RO, RW, W1C, Register, RegisterMap

if TYPE_CHECKING:
    from driverkit.machine.machine import Machine

TIMER0, TIMER1, UART0 = 0x40000000, 0x40001000, 0x40004000
SIZE = 0x1000
APB_HZ = 25_000_000  # mps2-an385's peripheral clock (QEMU: SYSCLK_FRQ)
TICK_NS = 1_000_000_000 // APB_HZ


def cmsdk_ids(pid: tuple[int, ...], cid: tuple[int, ...] = (0x0D, 0xF0, 0x05, 0xB1)
              ) -> type[RegisterMap]:
    """A map base holding PID0-7 (given PID0-3 then PID4-7) and CID0-3 with reset values."""
    regs = {f"pid{4 + i}": Register(0xFD0 + 4 * i, Int32ul, RO, reset=v)
            for i, v in enumerate(pid[4:8])}
    regs.update({f"pid{i}": Register(0xFE0 + 4 * i, Int32ul, RO, reset=v)
                 for i, v in enumerate(pid[:4])})
    regs.update({f"cid{i}": Register(0xFF0 + 4 * i, Int32ul, RO, reset=v)
                 for i, v in enumerate(cid)})
    return type("CmsdkIds", (RegisterMap,), regs)


class CmsdkTimerRegs(cmsdk_ids((0x22, 0xB8, 0x1B, 0x00, 0x04, 0, 0, 0))):
    size = SIZE
    ctrl = Register(0x0, Int32ul, RW, reset=0, writable=0xF,
                    doc="bit0 enable, bit1 external enable, bit2 external clock, bit3 irq enable")
    value = Register(0x4, Int32ul, RW, reset=0, volatile=True, doc="current count (down)")
    reload = Register(0x8, Int32ul, RW, reset=0, doc="loaded into VALUE when it reaches 0")
    intstatus = Register(0xC, Int32ul, W1C, reset=0,
                         doc="bit0 expired; write 1 to clear (INTCLEAR)")


class CmsdkUartRegs(cmsdk_ids((0x21, 0xB8, 0x1B, 0x00, 0x04, 0, 0, 0))):
    size = SIZE
    data = Register(0x0, Int32ul, RW, side_effects=True, doc="write: transmit, read: receive")
    state = Register(0x4, Int32ul, RW, reset=0, volatile=True,
                     doc="bit0 TX full, bit1 RX full, bit2 TX overrun, bit3 RX overrun")
    ctrl = Register(0x8, Int32ul, RW, reset=0, writable=0x7F,
                    doc="bit0 TX enable, bit1 RX enable, bits2-5 irq enables, bit6 HS test")
    intstatus = Register(0xC, Int32ul, W1C, reset=0, doc="TX/RX/overrun irqs")
    bauddiv = Register(0x10, Int32ul, RW, reset=0, writable=0xFFFFF, doc=">= 16 to transmit")


class _CmsdkDriver(Driver):
    needs = Needs(arch="arm", machine="mps2-an385")
    base: ClassVar[int]

    @classmethod
    async def probe(cls, machine: "Machine", base: int | None = None):
        """The device at `base` (default: the board's first one, e.g. TIMER0)."""
        base = cls.base if base is None else base
        regs = cls.Regs(machine.ioremap(base, SIZE, name=cls.name))
        want = cls.Regs._members["pid0"].reset
        got = regs.pid0.read()  # type: ignore[attr-defined]
        if got != want:
            raise DeviceRefused(f"no {cls.name} at {base:#x}: PID0 reads {got:#x}, "
                                f"expected {want:#x}")
        return cls(machine, regs)


class CmsdkTimer(_CmsdkDriver):
    """A 32-bit down counter with reload and an expiry flag."""

    name = "cmsdk_timer"
    Regs = CmsdkTimerRegs
    regs: CmsdkTimerRegs
    base = TIMER0

    def start(self, reload: int, irq: bool = True) -> None:
        """Count down from `reload` (VALUE and RELOAD), expiry flag cleared."""
        if not 0 < reload <= 0xFFFFFFFF:
            raise DeviceRefused(f"reload {reload} outside 1..0xffffffff")
        self.regs.ctrl.write(0)
        self.regs.intstatus.write(1)
        self.regs.reload.write(reload)
        self.regs.value.write(reload)
        self.regs.ctrl.write(0x1 | (0x8 if irq else 0))

    def expired(self) -> bool:
        return bool(self.regs.intstatus.read() & 1)

    def clear(self) -> None:
        self.regs.intstatus.write(1)


class CmsdkUart(_CmsdkDriver):
    """Transmit bytes (they appear on the board's serial console, UART0 = -serial)."""

    name = "cmsdk_uart"
    Regs = CmsdkUartRegs
    regs: CmsdkUartRegs
    base = UART0

    def enable(self, bauddiv: int = 16) -> None:
        if bauddiv < 16:
            raise DeviceRefused(f"BAUDDIV {bauddiv} < 16: the CMSDK UART does not transmit")
        self.regs.bauddiv.write(bauddiv)
        self.regs.ctrl.write(0x3)  # TX and RX enable

    def write(self, data: bytes) -> None:
        for b in data:
            self.regs.data.write(b)
