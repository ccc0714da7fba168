"""HPET (x86 q35/pc, 0xfed00000): capabilities, the main counter, timer comparators.

Layout per the IA-PC HPET spec 1.0a, checked against QEMU 7.2: 3 timers, 64-bit counter,
10 ns period; only 32- and 64-bit accesses. QEMU's timer config keeps only the bits its
write mask allows (0x7f4e of the low word).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from construct import BitsInteger, BitStruct, ByteSwapped, Flag, Int64ul

from driverkit.drivers import Driver, Needs
from driverkit.errors import DeviceRefused, MachineTimeout
from driverkit.regs import RO, RW, W1C, Block, Register, RegisterBlock, RegisterMap

if TYPE_CHECKING:
    from driverkit.machine.machine import Machine

HPET_BASE = 0xFED00000
HPET_SIZE = 0x400
HPET_CAPS_RESET = 0x009896808086A201  # vendor 8086, 3 timers, 64-bit, 10 ns period
HPET_WIDTHS = (4, 8)  # QEMU's HPET accepts 32- and 64-bit accesses only
TIMER_CONFIG_RESET = 0x00FF010400000030  # routable to IOAPIC 2, 8, 16-23; 64-bit, periodic

Capabilities = ByteSwapped(
    BitStruct(
        "counter_clk_period" / BitsInteger(32),  # femtoseconds per tick
        "vendor_id" / BitsInteger(16),
        "leg_route_cap" / Flag,
        "_rsvd" / BitsInteger(1),
        "count_size_cap" / Flag,  # 64-bit main counter
        "num_tim_cap" / BitsInteger(5),  # number of timers - 1
        "rev_id" / BitsInteger(8),
    )
)

Config = ByteSwapped(BitStruct("_rsvd" / BitsInteger(62), "leg_rt_cnf" / Flag, "enable_cnf" / Flag))

IntStatus = ByteSwapped(
    BitStruct("_rsvd" / BitsInteger(61), "t2_int_sts" / Flag, "t1_int_sts" / Flag,
              "t0_int_sts" / Flag)
)

TimerConfig = ByteSwapped(
    BitStruct(
        "int_route_cap" / BitsInteger(32),
        "_rsvd16" / BitsInteger(16),
        "fsb_int_del_cap" / Flag,
        "fsb_en_cnf" / Flag,
        "int_route_cnf" / BitsInteger(5),
        "mode32_cnf" / Flag,
        "_rsvd7" / BitsInteger(1),
        "val_set_cnf" / Flag,
        "size_cap" / Flag,
        "per_int_cap" / Flag,
        "type_cnf" / Flag,  # periodic
        "int_enb_cnf" / Flag,
        "int_type_cnf" / Flag,  # 1 = level
        "_rsvd0" / BitsInteger(1),
    )
)

FsbRoute = ByteSwapped(BitStruct("fsb_int_addr" / BitsInteger(32), "fsb_int_val" / BitsInteger(32)))


class HpetTimer(RegisterBlock):
    """One comparator block (timer N at 0x100 + 0x20*N)."""

    size = 0x20
    config = Register(
        0x00, TimerConfig, RW, reset=TIMER_CONFIG_RESET, widths=HPET_WIDTHS,
        fields={"int_route_cap": RO, "fsb_int_del_cap": RO, "size_cap": RO, "per_int_cap": RO},
    )
    comparator = Register(0x08, Int64ul, RW, reset=0xFFFFFFFFFFFFFFFF, widths=HPET_WIDTHS)
    fsb_route = Register(0x10, FsbRoute, RW, reset=0, widths=HPET_WIDTHS)


def fire_timer0(regs: "HpetRegs") -> None:
    """Make timer 0 raise a level interrupt at once, so int_status bit 0 (W1C) sets."""
    regs.config.write(0)
    regs.main_counter.write(0)
    regs.timers[0].config.modify(mode32_cnf=0, type_cnf=0)
    regs.timers[0].comparator.write(0x100)
    regs.timers[0].config.modify(int_type_cnf=1, int_enb_cnf=1)
    regs.config.modify(enable_cnf=1)


class HpetRegs(RegisterMap):
    size = HPET_SIZE
    capabilities = Register(0x000, Capabilities, RO, reset=HPET_CAPS_RESET, widths=HPET_WIDTHS)
    config = Register(0x010, Config, RW, reset=0, widths=HPET_WIDTHS)
    int_status = Register(0x020, IntStatus, W1C, reset=0, widths=HPET_WIDTHS, trigger=fire_timer0)
    main_counter = Register(0x0F0, Int64ul, RW, volatile=True, widths=HPET_WIDTHS)
    timers = Block(HpetTimer, 0x100, count=3, stride=0x20)


class Hpet(Driver):
    """The HPET: capabilities, enable/disable, counter, and one-shot comparator interrupts."""

    name = "hpet"
    Regs = HpetRegs
    needs = Needs(arch="x86_64")
    regs: HpetRegs

    @classmethod
    async def probe(cls, machine: "Machine") -> "Hpet":
        io = machine.ioremap(HPET_BASE, HPET_SIZE, name="HPET")
        regs = HpetRegs(io)
        caps = regs.capabilities.read()
        if caps.vendor_id == 0 or caps.counter_clk_period == 0:
            raise DeviceRefused(f"no HPET at {HPET_BASE:#x} (capabilities read "
                                f"{regs.capabilities.read_int():#x})")
        return cls(machine, regs)

    @property
    def num_timers(self) -> int:
        return self.regs.capabilities.read().num_tim_cap + 1

    @property
    def period_fs(self) -> int:
        """Femtoseconds per main-counter tick."""
        return self.regs.capabilities.read().counter_clk_period

    @property
    def frequency_hz(self) -> float:
        return 1e15 / self.period_fs

    def timer(self, n: int):
        """The register block of timer `n`."""
        if not 0 <= n < self.num_timers:
            raise DeviceRefused(f"HPET timer {n} does not exist (it has {self.num_timers})")
        return self.regs.timers[n]

    def enable(self) -> None:
        self.regs.config.modify(enable_cnf=1)

    def disable(self) -> None:
        self.regs.config.modify(enable_cnf=0)

    def counter(self) -> int:
        return self.regs.main_counter.read()

    async def wait_counter(self, ticks: int, timeout: float = 5.0) -> int:
        """Wait until the main counter has advanced by `ticks` from now; return its value."""
        start = self.counter()
        return await self.regs.main_counter.wait_for(lambda v: v - start >= ticks, timeout=timeout)

    async def oneshot(self, n: int, ticks: int, *, route: int | None = None,
                      timeout: float = 5.0) -> int:
        """Arm timer `n` to fire `ticks` after now (level-triggered), wait for its status bit,
        clear it, disarm; return the counter value seen when it fired.

        `route` sets the IOAPIC input (must be in the timer's int_route_cap).
        """
        t = self.timer(n)
        cap = t.config.read().int_route_cap
        if route is not None and not (0 <= route < 32 and cap >> route & 1):
            raise DeviceRefused(f"HPET timer {n} cannot route to IOAPIC input {route} "
                                f"(int_route_cap {cap:#010x})")
        t.config.modify(int_enb_cnf=0, type_cnf=0, mode32_cnf=0)
        self.clear_status(n)
        self.enable()
        t.comparator.write(self.counter() + ticks)
        changes = {"int_type_cnf": 1, "int_enb_cnf": 1}
        if route is not None:
            changes["int_route_cnf"] = route
        t.config.modify(**changes)
        bit = f"t{n}_int_sts"
        try:
            await self.regs.int_status.wait_for(timeout=timeout, **{bit: 1})
        except MachineTimeout:
            t.config.modify(int_enb_cnf=0)
            raise
        fired = self.counter()
        t.config.modify(int_enb_cnf=0)
        self.clear_status(n)
        return fired

    def clear_status(self, n: int) -> None:
        self.regs.int_status.write(**{f"t{n}_int_sts": 1})
