"""REPLAY transport: run a driver against a recorded MMIO trace, without QEMU.

Reads are served from the trace, writes are checked against it, IRQ level
changes are applied as the cursor passes them. The first access that differs
raises ReplayDivergence naming the event index, what was recorded and what the
driver did. This is a labelled stand-in for unit tests where QEMU is not
installed — it only proves the driver repeats a recorded conversation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..errors import MappingError, ReplayDivergence, ReplayError
from ..io.iomem import IoMem
from ..io.trace import Trace, TraceEvent


def _did(op: str, space: str, addr: int, width: int, value: int | None = None,
         data: bytes | None = None) -> str:
    """What the driver did, in TraceEvent.describe() words (a read has no value yet)."""
    if value is None and data is None:
        return f"{op} {space} {addr:#x}/{width}"
    return TraceEvent(0, op, addr, width, value or 0, space, data).describe()


class Replay:
    """A cursor over recorded events, shared by every bus view of one replayed machine."""

    label = "replay"

    def __init__(self, events: Sequence[TraceEvent]) -> None:
        self.events = list(events)
        self.pos = 0
        self.levels: dict[int, bool] = {}

    def _skip_irqs(self) -> int:
        """Apply IRQ events up to the next access; its index (len(events) at the end)."""
        while self.pos < len(self.events) and self.events[self.pos].op == "irq":
            ev = self.events[self.pos]
            self.levels[ev.addr] = bool(ev.value)
            self.pos += 1
        return self.pos

    def expect(self, op: str, space: str, addr: int, width: int, value: int | None = None,
               data: bytes | None = None) -> TraceEvent:
        """Consume the next access if it matches; else raise ReplayDivergence."""
        idx = self._skip_irqs()
        actual = _did(op, space, addr, width, value, data)
        if idx >= len(self.events):
            raise ReplayDivergence(idx, None, actual)
        ev = self.events[idx]
        same = (ev.op == op and ev.space == space and ev.addr == addr and ev.width == width)
        if same and value is not None and ev.value != value:
            same = False
        if same and data is not None and ev.data is not None and ev.data != data:
            same = False
        if not same:
            raise ReplayDivergence(idx, ev.describe(), actual)
        self.pos = idx + 1
        return ev

    @property
    def remaining(self) -> list[TraceEvent]:
        """Accesses not yet replayed (trailing IRQ changes do not count)."""
        return [e for e in self.events[self.pos:] if e.op != "irq"]

    def finish(self) -> None:
        """Raise ReplayDivergence if the driver stopped before the recording did."""
        rest = self.remaining
        if rest:
            idx = self.events.index(rest[0], self.pos)
            raise ReplayDivergence(idx, rest[0].describe(),
                                   f"nothing more ({len(rest)} recorded accesses left unreplayed)")


class ReplayBus:
    """A driverkit.transport.base.Bus over one address space of a Replay."""

    label = "replay"

    def __init__(self, replay: Replay, space: str = "mem") -> None:
        self.replay = replay
        self.space = space

    def read(self, addr: int, width: int) -> int:
        return self.replay.expect("read", self.space, addr, width).value

    def write(self, addr: int, width: int, value: int) -> None:
        self.replay.expect("write", self.space, addr, width, value)

    def read_bytes(self, addr: int, n: int) -> bytes:
        ev = self.replay.expect("read_bulk", self.space, addr, n)
        if ev.data is None:
            raise ReplayError(f"trace event #{self.replay.pos - 1} ({ev.describe()}) was recorded "
                              "without its data; a bulk read cannot be replayed from it")
        return ev.data

    def write_bytes(self, addr: int, data: bytes) -> None:
        self.replay.expect("write_bulk", self.space, addr, len(data), data=bytes(data))

    def memset(self, addr: int, n: int, byte: int) -> None:
        self.replay.expect("memset", self.space, addr, n, byte)


class ReplayIrq:
    """IRQ levels as the recording had them at the cursor; waits consume IRQ events only."""

    def __init__(self, replay: Replay) -> None:
        self._r = replay

    @property
    def levels(self) -> dict[int, bool]:
        return self._r.levels

    def level(self, line: int) -> bool:
        self._r._skip_irqs()
        return self._r.levels.get(line, False)

    async def wait_level(self, line: int, level: bool, timeout: float = 5.0) -> None:
        """Succeeds if the recording changes `line` to `level` before the next access."""
        if self.level(line) != level:
            idx = self._r.pos
            nxt = self._r.events[idx].describe() if idx < len(self._r.events) else None
            state = "raised" if level else "lowered"
            raise ReplayDivergence(idx, nxt, f"wait for irq line {line} {state}")

    async def wait_raised(self, line: int, timeout: float = 5.0) -> None:
        await self.wait_level(line, True, timeout)

    async def wait_lowered(self, line: int, timeout: float = 5.0) -> None:
        await self.wait_level(line, False, timeout)

    def intercept(self, qom_path: str) -> None:
        """Recorded traces already hold the intercepted lines' changes."""


class ReplayMachine:
    """A Machine-shaped object over a recorded trace: ioremap, ioport_map, irq, trace. No QEMU.

    `async with ReplayMachine.load("t.jsonl") as m:` checks on a clean exit that the
    driver replayed the whole recording.
    """

    label = "replay"
    alive = True

    def __init__(self, trace: Trace) -> None:
        self.recording = trace
        self.meta: dict[str, Any] = dict(trace.meta)
        self.replay = Replay(trace.events)
        self.trace = Trace()
        self.trace.meta = dict(trace.meta)
        self.irq = ReplayIrq(self.replay)
        self._mem = ReplayBus(self.replay, "mem")
        self._io = ReplayBus(self.replay, "io")
        if trace.dropped:
            raise ReplayError(f"the recording dropped {trace.dropped} early events (trace buffer "
                              "full); it cannot be replayed from the start")

    @classmethod
    def load(cls, path: str | Path) -> "ReplayMachine":
        path = Path(path)
        if not path.is_file():
            raise ReplayError(f"no recorded trace at {path}")
        return cls(Trace.load(path))

    @property
    def spec_fields(self) -> dict[str, Any]:
        """The MachineSpec fields the recording was made with (from its meta), if known."""
        return dict(self.meta.get("spec") or {})

    async def __aenter__(self) -> "ReplayMachine":
        return self

    async def __aexit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.replay.finish()

    async def close(self) -> None:
        """Nothing to tear down (no process); kept so code written for Machine runs unchanged."""

    def finish(self) -> None:
        self.replay.finish()

    def ioremap(self, phys: int, size: int, *, allow_unbacked: bool = False,
                name: str = "") -> IoMem:
        if size <= 0 or phys < 0:
            raise MappingError(f"ioremap({phys:#x}, {size}): size must be > 0, address >= 0")
        return IoMem(self._mem, phys, size, name=name, tracer=self.trace.tracer("mem"))

    def ioport_map(self, port: int, size: int, *, name: str = "") -> IoMem:
        return IoMem(self._io, port, size, name=name, space="io", tracer=self.trace.tracer("io"))

    def iounmap(self, iomem: IoMem) -> None:
        if not iomem.mapped:
            raise MappingError(f"iounmap of {iomem!r}: already unmapped")
        iomem.unmap()

    @property
    def pci(self) -> Any:
        raise ReplayError("PCI enumeration is not part of an MMIO trace; under replay, ioremap "
                          "the BAR address the recording noted in trace.meta")

    def __repr__(self) -> str:
        return (f"<ReplayMachine {self.replay.pos}/{len(self.replay.events)} events "
                f"{self.spec_fields.get('machine', '?')}>")
