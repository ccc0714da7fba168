"""`MachineLike`: what every machine front offers, QEMU-backed or replayed.

The pytest plugin's `machine` fixture hands out a `Machine` (real QEMU) or, under
--driverkit-replay, a `ReplayMachine` (a recorded trace); a driver or test written against
`MachineLike` runs on both. mypy checks that both classes satisfy it (scripts/test), so the
two fronts cannot drift apart silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

from ..io.iomem import IoMem
from ..io.trace import Trace

if TYPE_CHECKING:
    from .machine import Machine
    from .replay import ReplayMachine


@runtime_checkable
class IrqLike(Protocol):
    """Interrupt lines of the intercepted controller: levels and waits for a change."""

    @property
    def levels(self) -> Mapping[int, bool]: ...

    def intercept(self, qom_path: str) -> None: ...

    def level(self, line: int) -> bool: ...

    async def wait_level(self, line: int, level: bool, timeout: float = 5.0) -> None: ...

    async def wait_raised(self, line: int, timeout: float = 5.0) -> None: ...

    async def wait_lowered(self, line: int, timeout: float = 5.0) -> None: ...


@runtime_checkable
class MachineLike(Protocol):
    """The machine API a test gets from the plugin: mappings, interrupts, the trace, teardown.

    What works on both fronts only: `pci` (enumeration) and QMP are not in a trace, so they
    are Machine's alone. isinstance() works (runtime_checkable) and has no side effects.
    """

    @property
    def alive(self) -> bool: ...

    @property
    def irq(self) -> IrqLike: ...

    @property
    def trace(self) -> Trace: ...

    def ioremap(self, phys: int, size: int, *, allow_unbacked: bool = False,
                name: str = "") -> IoMem: ...

    def ioport_map(self, port: int, size: int, *, name: str = "") -> IoMem: ...

    def iounmap(self, iomem: IoMem) -> None: ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: object, exc: object, tb: object, /) -> None: ...


if TYPE_CHECKING:  # mypy (scripts/test) checks these; nothing runs

    def _fronts_are_machine_like(m: Machine, r: ReplayMachine) -> tuple[MachineLike, MachineLike]:
        return m, r
