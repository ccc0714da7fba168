"""A HPET register map (IA-PC HPET spec 1.0a, checked against QEMU 7.2's q35 HPET).

The real-device example for driverkit.regs tests. The devices/hpet.py driver is
someone else's; this map lives in the tests so the register layer is tested on its own.
"""

from __future__ import annotations

from construct import BitsInteger, BitStruct, ByteSwapped, Flag, Int64ul

from driverkit.regs import RO, RW, W1C, Block, Register, RegisterBlock, RegisterMap

HPET_BASE = 0xFED00000
HPET_SIZE = 0x400
HPET_CAPS_RESET = 0x009896808086A201  # vendor 8086, 3 timers, 64-bit, 10 ns period

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

Config = ByteSwapped(
    BitStruct(
        "_rsvd" / BitsInteger(62),
        "leg_rt_cnf" / Flag,
        "enable_cnf" / Flag,
    )
)

IntStatus = ByteSwapped(
    BitStruct(
        "_rsvd" / BitsInteger(61),
        "t2_int_sts" / Flag,
        "t1_int_sts" / Flag,
        "t0_int_sts" / Flag,
    )
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

HPET_WIDTHS = (4, 8)  # QEMU's HPET accepts 32- and 64-bit accesses only


class HpetTimer(RegisterBlock):
    """One comparator block (timer N at 0x100 + 0x20*N)."""

    size = 0x20
    config = Register(
        0x00,
        TimerConfig,
        RW,
        reset=0x00FF010400000030,
        widths=HPET_WIDTHS,
        fields={"int_route_cap": RO, "fsb_int_del_cap": RO, "size_cap": RO, "per_int_cap": RO},
    )
    comparator = Register(0x08, Int64ul, RW, reset=0xFFFFFFFFFFFFFFFF, widths=HPET_WIDTHS)
    fsb_route = Register(0x10, FsbRoute, RW, reset=0, widths=HPET_WIDTHS)


def fire_timer0(regs: HpetRegs) -> None:
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
