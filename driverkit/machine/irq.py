"""Interrupt observation: qtest's intercepted IRQ lines as a level mirror and awaitables."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..errors import MachineError, MachineTimeout

if TYPE_CHECKING:
    from .machine import Machine

# QOM types of the interrupt controller whose inputs PCI INTx and on-board devices drive.
CONTROLLER_TYPES = {
    "x86_64": ("ioapic", "kvm-ioapic"),
    "aarch64": ("arm_gic", "kvm-arm-gic", "arm-gicv3", "kvm-arm-gicv3"),
}
QOM_SEARCH_DEPTH = 4


async def find_qom_by_type(machine: "Machine", types: tuple[str, ...],
                           root: str = "/machine") -> str:
    """The QOM path of the first object of one of `types`, breadth first (positional paths
    like /machine/unattached/device[3] change with the command line; types do not)."""
    level = [root]
    for _ in range(QOM_SEARCH_DEPTH):
        nxt = []
        for path in level:
            for item in await machine.execute("qom-list", {"path": path}):
                kind = item.get("type", "")
                if not kind.startswith("child<"):
                    continue
                child = f"{path.rstrip('/')}/{item['name']}"
                if kind[6:-1] in types:
                    return child
                nxt.append(child)
        level = nxt
    raise MachineError(f"no object of type {' or '.join(types)} under {root} "
                       f"(searched {QOM_SEARCH_DEPTH} levels)")


class IrqMonitor:
    """Levels of the intercepted interrupt controller's input lines, and waits on them."""

    def __init__(self, machine: "Machine") -> None:
        self._m = machine
        self.levels: dict[int, bool] = {}
        self.counts: dict[int, int] = {}
        self.intercepted: str | None = None
        self._changed: asyncio.Event | None = None

    def intercept(self, qom_path: str) -> None:
        """Intercept the inputs of the device at `qom_path` (one device per machine, for good)."""
        if self.intercepted == qom_path:
            return
        if self.intercepted is not None:
            raise MachineError(
                f"IRQs of {self.intercepted} are already intercepted; qtest allows one device"
            )
        assert self._m.qtest is not None
        self._m.qtest.irq_intercept_in(qom_path)
        self.intercepted = qom_path

    async def intercept_controller(self) -> str:
        """Intercept the machine's interrupt controller (IOAPIC on x86, GIC on arm), found by
        QOM type; returns its path. Lines are then IOAPIC GSIs / GIC SPI numbers."""
        if self.intercepted is not None:
            return self.intercepted
        types = CONTROLLER_TYPES[self._m.spec.arch]
        path = await find_qom_by_type(self._m, types)
        self.intercept(path)
        return path

    def _on_level(self, line: int, level: bool) -> None:
        self.levels[line] = level
        if level:
            self.counts[line] = self.counts.get(line, 0) + 1
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def level(self, line: int) -> bool:
        """The current level of `line` (False if it never changed)."""
        return self.levels.get(line, False)

    async def wait_level(self, line: int, level: bool, timeout: float = 5.0) -> None:
        """Wait until `line` is at `level`; MachineTimeout names the line on the deadline.

        Intercepts the interrupt controller first if nothing is intercepted yet (a line that
        changed before interception is not seen: call intercept_controller() up front).
        """
        if self.intercepted is None:
            await self.intercept_controller()
        if self._changed is None:
            self._changed = asyncio.Event()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.levels.get(line, False) != level:
            self._m.check_alive()
            remaining = deadline - loop.time()
            if remaining <= 0:
                state = "raised" if level else "lowered"
                raise MachineTimeout(f"IRQ line {line} to be {state}", timeout)
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.1))
            except asyncio.TimeoutError:
                if self._m.qtest is not None and not self._m.qtest.closed:
                    self._m.qtest.sync()  # flush lines QEMU sent while we were idle

    async def wait_raised(self, line: int, timeout: float = 5.0) -> None:
        await self.wait_level(line, True, timeout)

    async def wait_lowered(self, line: int, timeout: float = 5.0) -> None:
        await self.wait_level(line, False, timeout)

    async def wait_msi(self, address: int, data: int, timeout: float = 5.0) -> None:
        """Wait until the 32-bit word at guest-physical `address` reads `data`: a device's MSI
        write when its MSI address points at RAM (clear the word first)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while int.from_bytes(self._m.read_phys(address, 4), "little") != data:
            if loop.time() > deadline:
                raise MachineTimeout(f"an MSI write of {data:#x} to {address:#x}", timeout)
            await asyncio.sleep(0.002)
