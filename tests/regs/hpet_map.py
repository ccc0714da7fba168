"""The HPET register map the regs tests use: the driver's own (devices.hpet)."""

from devices.hpet import (  # noqa: F401
    HPET_BASE,
    HPET_CAPS_RESET,
    HPET_SIZE,
    HPET_WIDTHS,
    Capabilities,
    Config,
    HpetRegs,
    HpetTimer,
    TimerConfig,
    fire_timer0,
)
