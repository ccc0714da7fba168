"""Nordic nRF51 TIMER and GPIO (microbit: TIMER0 0x40008000, GPIO 0x50000000).

From the nRF51 Series Reference Manual (v3.0, chapters 14 GPIO and 18 TIMER): tasks are
write-1 triggers, events are flags, CC[0..3] compare. Measured on QEMU 7.2 and checked
against QEMU's microbit-test.c: the timer counts at 16 MHz / 2**PRESCALER; COMPARE[n] sets
when the counter reaches CC[n] (whether a read at exactly that tick sees it depends on how
the steps fall: QEMU 7.2's model); PRESCALER resets to 0 in QEMU (the manual says 4), PIN_CNF
to 0x2 (input buffer disconnected); IN follows the pins' driven levels (qtest set_irq_in on
/machine/nrf51, which carries the GPIO block's unnamed lines), OUT drives the outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from construct import Int32ul

from driverkit.drivers import Driver, Needs
from driverkit.errors import DeviceRefused
from driverkit.regs import RO, RW, WO, Register, RegisterArray, RegisterMap

if TYPE_CHECKING:
    from driverkit.machine.machine import Machine

TIMER0, GPIO = 0x40008000, 0x50000000
SIZE = 0x1000
BASE_HZ = 16_000_000
SOC_QOM = "/machine/nrf51"


class Nrf51TimerRegs(RegisterMap):
    size = SIZE
    tasks_start = Register(0x000, Int32ul, WO, side_effects=True)
    tasks_stop = Register(0x004, Int32ul, WO, side_effects=True)
    tasks_count = Register(0x008, Int32ul, WO, side_effects=True)
    tasks_clear = Register(0x00C, Int32ul, WO, side_effects=True)
    tasks_capture = RegisterArray(Register(0x040, Int32ul, WO, side_effects=True), 4, 4)
    events_compare = RegisterArray(Register(0x140, Int32ul, RW, reset=0,
                                                         volatile=True), 4, 4)
    shorts = Register(0x200, Int32ul, RW, reset=0, writable=0xF0F)
    intenset = Register(0x304, Int32ul, RW, reset=0, side_effects=True)
    intenclr = Register(0x308, Int32ul, RW, reset=0, side_effects=True)
    mode = Register(0x504, Int32ul, RW, reset=0,
                    doc="bit0: 0 timer, 1 counter (QEMU stores all 32 bits)")
    bitmode = Register(0x508, Int32ul, RW, reset=0, writable=0x3,
                       doc="0: 16, 1: 8, 2: 24, 3: 32 bit")
    prescaler = Register(0x510, Int32ul, RW, reset=0, writable=0xF,
                         doc="f = 16 MHz / 2**PRESCALER (QEMU resets it to 0, the manual to 4)")
    cc = RegisterArray(Register(0x540, Int32ul, RW, reset=0, writable=0xFFFF,
                                doc="masked to the BITMODE width (16 bits at reset)"), 4, 4)


class Nrf51GpioRegs(RegisterMap):
    size = SIZE
    out = Register(0x504, Int32ul, RW, reset=0)
    outset = Register(0x508, Int32ul, RW, reset=0, side_effects=True, doc="reads OUT")
    outclr = Register(0x50C, Int32ul, RW, reset=0, side_effects=True, doc="reads OUT")
    in_ = Register(0x510, Int32ul, RO, reset=0, volatile=True)
    dir = Register(0x514, Int32ul, RW, reset=0)
    dirset = Register(0x518, Int32ul, RW, reset=0, side_effects=True, doc="reads DIR")
    dirclr = Register(0x51C, Int32ul, RW, reset=0, side_effects=True, doc="reads DIR")
    pin_cnf = RegisterArray(Register(0x700, Int32ul, RW, reset=0x2,
                                     doc="DIR, INPUT, PULL, DRIVE, SENSE (QEMU stores all bits)"),
                            32, 4)


class _Nrf51Driver(Driver):
    needs = Needs(arch="arm", machine="microbit")
    base: ClassVar[int]

    @classmethod
    async def probe(cls, machine: "Machine"):
        if machine.spec.machine != "microbit":
            raise DeviceRefused(f"{cls.name} lives on the microbit, not {machine.spec.machine}")
        return cls(machine, cls.Regs(machine.ioremap(cls.base, SIZE, name=cls.name)))


class Nrf51Timer(_Nrf51Driver):
    """TIMER0 as a timer: start, stop, capture and compare."""

    name = "nrf51_timer"
    Regs = Nrf51TimerRegs
    regs: Nrf51TimerRegs
    base = TIMER0

    def tick_ns(self) -> float:
        return 1e9 * (1 << self.regs.prescaler.read()) / BASE_HZ

    def configure(self, prescaler: int = 0, bits: int = 32) -> None:
        modes = {16: 0, 8: 1, 24: 2, 32: 3}
        if bits not in modes or not 0 <= prescaler <= 9:
            raise DeviceRefused(f"bit width {bits} / prescaler {prescaler}: widths are "
                                f"{sorted(modes)}, prescaler 0..9")
        self.regs.tasks_stop.write(1)
        self.regs.mode.write(0)
        self.regs.bitmode.write(modes[bits])
        self.regs.prescaler.write(prescaler)
        self.regs.tasks_clear.write(1)

    def start(self) -> None:
        self.regs.tasks_start.write(1)

    def capture(self, n: int = 0) -> int:
        """The count now, through CAPTURE[n] into CC[n]."""
        self.regs.tasks_capture[n].write(1)
        return self.regs.cc[n].read()


class Nrf51Gpio(_Nrf51Driver):
    """Pins as inputs (driven from outside with set_in) and outputs (seen by intercept_out)."""

    name = "nrf51_gpio"
    Regs = Nrf51GpioRegs
    regs: Nrf51GpioRegs
    base = GPIO

    def as_input(self, pin: int) -> None:
        self.regs.pin_cnf[pin].write(0)  # DIR input, input buffer connected

    def as_output(self, pin: int) -> None:
        self.regs.pin_cnf[pin].write(1)

    def drive(self, pin: int, level: int) -> None:
        """Drive an input pin from outside the chip (qtest set_irq_in on the SoC)."""
        self.machine.irq.set_in(SOC_QOM, "unnamed-gpio-in", pin, level)

    def read(self, pin: int) -> int:
        return (self.regs.in_.read() >> pin) & 1

    def set(self, pin: int, level: int) -> None:
        (self.regs.outset if level else self.regs.outclr).write(1 << pin)
