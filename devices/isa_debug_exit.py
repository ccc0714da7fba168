"""isa-debug-exit (x86 port 0xf4): writing V exits QEMU with status (V << 1) | 1.

There is nothing to read back (reads return 0), so the layout test can only show that
the declaration fits the port range; `exit(V)` observes the exit status itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from construct import Int8ul

from driverkit.drivers import Driver, Needs
from driverkit.errors import DeviceRefused, DriverError, MachineDied
from driverkit.regs import WO, Register, RegisterMap

if TYPE_CHECKING:
    from driverkit.machine.machine import Machine

IOBASE, IOSIZE = 0xF4, 4
DEVICE = f"isa-debug-exit,iobase={IOBASE:#x},iosize={IOSIZE}"


class IsaDebugExitRegs(RegisterMap):
    size = IOSIZE
    exit_code = Register(0x0, Int8ul, WO, side_effects=True, doc="any write exits QEMU")


def status_of(value: int) -> int:
    """QEMU's exit status for written value V: (V << 1) | 1 (as a process status, & 0xff)."""
    return ((value << 1) | 1) & 0xFF


class IsaDebugExit(Driver):
    """Exit QEMU with a chosen status and report the status seen."""

    name = "isa_debug_exit"
    Regs = IsaDebugExitRegs
    needs = Needs(arch="x86_64", devices=(DEVICE,))
    regs: IsaDebugExitRegs

    @classmethod
    async def probe(cls, machine: "Machine") -> "IsaDebugExit":
        if not any(d.split(",", 1)[0] == "isa-debug-exit" for d in machine.spec.devices):
            raise DeviceRefused("the machine has no isa-debug-exit device (add "
                                f"--device {DEVICE})")
        return cls(machine, IsaDebugExitRegs(machine.ioport_map(IOBASE, IOSIZE,
                                                                name="isa-debug-exit")))

    async def exit(self, value: int) -> int:
        """Write `value`; QEMU exits. Returns its exit status, (value << 1) | 1."""
        if not 0 <= value <= 0xFF:
            raise DeviceRefused(f"isa-debug-exit value {value} is not a byte")
        try:
            self.regs.exit_code.write(value)
            self.machine.qtest.sync()  # the channel closes here once QEMU has exited
        except MachineDied as died:
            if died.returncode is None or died.returncode < 0:
                raise
            return died.returncode
        raise DriverError(f"QEMU did not exit after writing {value:#x} to port {IOBASE:#x}")
