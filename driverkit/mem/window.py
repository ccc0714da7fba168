"""The RAM a `mem=` limit leaves unused, as the one carve-out a driver can take over."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import MemModelError
from .boot import Carveout

if TYPE_CHECKING:
    from .plan import MemPlan


def mem_window(plan: MemPlan) -> Carveout:
    """The firmware RAM above `mem=` that the kernel does not use (the model's "mem=... window").

    It ends where the firmware's own reservations begin (SeaBIOS's ACPI tables at the top
    of low RAM), not at the end of the machine's memory. MemModelError unless there is
    exactly one such window.
    """
    windows = [c for c in plan.state.carveouts if c.name.endswith(" window")]
    if len(windows) != 1:
        raise MemModelError(f"the model lists {len(windows)} mem= windows, expected one: "
                            f"{plan.state.carveouts}")
    return windows[0]
