"""Interrupt observation: qtest's intercepted IRQ lines as a level mirror and awaitables."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..errors import BoardError, MachineError, MachineTimeout, QmpError

if TYPE_CHECKING:
    from .machine import Machine

# QOM types of the interrupt controller whose inputs PCI INTx and on-board devices drive.
CONTROLLER_TYPES = {
    "x86_64": ("ioapic", "kvm-ioapic"),
    "aarch64": ("arm_gic", "kvm-arm-gic", "arm-gicv3", "kvm-arm-gicv3"),
    # Cortex-M: the armv7m container, not its NVIC: the NVIC's unnamed inputs are passed on to
    # it (qdev_pass_gpios moves the list), and qtest intercepts only a device's own lists.
    "arm": ("armv7m", "arm_gic", "arm-gicv3"),
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


def _gpio_counts(props: list[dict], kind: str) -> dict[str, int]:
    """QOM properties `name[N]` of type `kind` (child<irq>: inputs, link<irq>: outputs)."""
    counts: dict[str, int] = {}
    for p in props:
        name = str(p.get("name", ""))
        if p.get("type") == kind and name.endswith("]") and "[" in name:
            base, _, idx = name[:-1].rpartition("[")
            if idx.isdigit():
                counts[base] = max(counts.get(base, 0), int(idx) + 1)
    return counts


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
        props = self._qom_props(qom_path)  # BoardError naming what exists instead
        own = {**_gpio_counts(props, "child<irq>"), **_gpio_counts(props, "link<irq>")}
        if "unnamed-gpio-in" not in own:  # qtest intercepts unnamed lists only, silently
            have = ", ".join(f"{k}[{v}]" for k, v in sorted(own.items())) or "none"
            raise BoardError(f"{qom_path} has no unnamed input lines qtest can intercept (its "
                             f"lines: {have}); intercept_controller() finds the machine's")
        passed = self._passed_to(qom_path, "unnamed-gpio-in")
        if passed:  # qtest would answer OK and intercept nothing: no line would ever be seen
            raise BoardError(f"the input lines of {qom_path} are not its own to intercept{passed}")
        self._m.qtest.irq_intercept_in(qom_path)
        self.intercepted = qom_path

    def _qom_props(self, qom_path: str) -> list[dict]:
        """qom-list of `qom_path` over the synchronous monitor; BoardError lists the siblings."""
        ctl = self._m.monitor
        if ctl is None:
            raise MachineError("machine not started")
        if not isinstance(qom_path, str) or not qom_path.startswith("/"):
            raise BoardError(f"QOM path must be an absolute path string, got {qom_path!r}")
        try:
            return list(ctl.execute("qom-list", {"path": qom_path}))
        except QmpError:
            parent = qom_path.rstrip("/").rpartition("/")[0] or "/"
            try:
                near = sorted(p["name"] for p in ctl.execute("qom-list", {"path": parent})
                              if str(p.get("type", "")).startswith("child<"))
            except QmpError:
                near = []
            raise BoardError(f"no QOM object at {qom_path}; {parent} holds: "
                             f"{', '.join(near) or 'nothing (or it does not exist either)'}") \
                from None

    def gpio_lines(self, qom_path: str) -> tuple[dict[str, int], dict[str, int]]:
        """(inputs, outputs) qtest can reach on the device at `qom_path`: name -> line count.

        QEMU 7.2's qtest finds GPIO lists by name, and a device's own unnamed lists have none,
        so they count only on the container they are passed on to (QOM links named
        unnamed-gpio-in/-out there, e.g. /machine/nrf51 for the nRF51's GPIO)."""
        props = self._qom_props(qom_path)
        own_in = _gpio_counts(props, "child<irq>")
        links = _gpio_counts(props, "link<irq>")
        inputs = {k: v for k, v in own_in.items() if k != "unnamed-gpio-in"}
        if "unnamed-gpio-in" in links:
            inputs["unnamed-gpio-in"] = links["unnamed-gpio-in"]
        outputs = {k: v for k, v in links.items() if k != "unnamed-gpio-in"}
        return inputs, outputs

    def _passed_to(self, qom_path: str, name: str) -> str:
        """A hint naming the parent that carries the device's unnamed lines `name`, if it does.

        Inputs are told exactly: the parent's alias `name[0]` resolves to this device's line (a
        parent may carry another child's inputs, as the nRF51 SoC carries its GPIO block's
        beside the CPU's). An output alias resolves to what the line drives, the same through
        the parent as on the device, so outputs go by the name alone."""
        dev = qom_path.rstrip("/")
        parent = dev.rpartition("/")[0]
        if not parent:
            return ""
        try:
            links = _gpio_counts(self._qom_props(parent), "link<irq>")
        except BoardError:
            return ""
        if name not in links:
            return ""
        if not name.endswith("-in"):
            return f"; they are passed on to {parent}: use that path"
        assert self._m.monitor is not None
        try:
            target = self._m.monitor.execute("qom-get", {"path": parent, "property": f"{name}[0]"})
        except QmpError:
            return ""
        if isinstance(target, str) and target.startswith(dev + "/"):
            return f"; they are passed on to {parent}: use that path"
        return ""

    def set_in(self, qom_path: str, name: str, n: int, level: int | bool) -> None:
        """Drive input line `name`[n] of a device (qtest set_irq_in); "unnamed" stands for
        QEMU's "unnamed-gpio-in"."""
        inputs, _ = self.gpio_lines(qom_path)
        qom_name = "unnamed-gpio-in" if name == "unnamed" else name
        if qom_name not in inputs:
            have = ", ".join(f"{k}[{v}]" for k, v in sorted(inputs.items())) or "none"
            raise BoardError(f"{qom_path} has no GPIO input {name!r} qtest can drive; its "
                             f"inputs: {have}{self._passed_to(qom_path, qom_name)}")
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < inputs[qom_name]:
            raise BoardError(f"{qom_path} input {qom_name} has lines 0..{inputs[qom_name] - 1}, "
                             f"not {n!r}")
        if isinstance(level, bool):
            level = int(level)
        if not isinstance(level, int) or not -(1 << 31) <= level < (1 << 31):
            raise BoardError(f"GPIO level must be an int (0/1), got {level!r}")
        assert self._m.qtest is not None
        self._m.qtest.set_irq_in(qom_path, qom_name, n, level)

    def intercept_out(self, qom_path: str) -> None:
        """Intercept a device's unnamed output lines (qtest irq_intercept_out): their levels
        then show in `levels` and the waits, line n being output n. QEMU 7.2 intercepts
        unnamed outputs only (named ones such as sysbus-irq never report before QEMU 8.2)."""
        if self.intercepted == qom_path:
            return
        _, outputs = self.gpio_lines(qom_path)
        hint = self._passed_to(qom_path, "unnamed-gpio-out")
        if "unnamed-gpio-out" not in outputs or hint:
            have = ", ".join(f"{k}[{v}]" for k, v in sorted(outputs.items())) or "none"
            raise BoardError(f"{qom_path} has no unnamed GPIO outputs QEMU 7.2 can intercept "
                             f"(its outputs: {have}){hint}")
        if self.intercepted is not None:
            raise MachineError(
                f"IRQs of {self.intercepted} are already intercepted; qtest allows one device")
        assert self._m.qtest is not None
        self._m.qtest.irq_intercept_out(qom_path)
        self.intercepted = qom_path

    async def intercept_controller(self) -> str:
        """Intercept the machine's interrupt controller (IOAPIC on x86, GIC on Cortex-A, the
        armv7m container that carries the NVIC's inputs on Cortex-M), found by QOM type;
        returns its path. Lines are then IOAPIC GSIs / GIC SPI numbers / NVIC IRQ numbers."""
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
