"""The ordered MMIO/IRQ trace of one machine: every IoMem access and every IRQ level change."""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Iterator

OPS = {"r": "read", "w": "write", "R": "read_bulk", "W": "write_bulk", "S": "memset", "i": "irq"}


@dataclass(frozen=True)
class TraceEvent:
    """One access (op read/write/read_bulk/write_bulk/memset) or IRQ level change (op irq)."""

    t_ns: int
    op: str
    addr: int
    width: int
    value: int
    space: str = "mem"

    def to_json(self) -> dict:
        return asdict(self)


class Trace:
    """A bounded, ordered record (the newest `maxlen` events are kept)."""

    def __init__(self, maxlen: int = 1_000_000) -> None:
        # Raw tuples on the hot path; TraceEvent objects are made when someone looks.
        self._raw: deque[tuple] = deque(maxlen=maxlen)
        self.enabled = True
        self._t0 = time.monotonic_ns()

    def tracer(self, space: str = "mem"):
        """A callback for IoMem: tracer(op, addr, width, value)."""
        append, clock = self._raw.append, time.monotonic_ns

        def record(op: str, addr: int, width: int, value: int) -> None:
            if self.enabled:
                append((clock(), op, addr, width, value, space))

        return record

    def irq(self, line: int, level: bool) -> None:
        if self.enabled:
            self._raw.append((time.monotonic_ns(), "i", line, 0, int(level), "irq"))

    @property
    def events(self) -> list[TraceEvent]:
        """The recorded events, oldest first."""
        t0 = self._t0
        return [TraceEvent(t - t0, OPS[op], a, w, v, sp) for t, op, a, w, v, sp in self._raw]

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self._raw)

    def clear(self) -> None:
        self._raw.clear()

    def accesses(self, op: str | None = None) -> list[TraceEvent]:
        """The events, optionally only one kind (e.g. "write")."""
        return [e for e in self.events if op is None or e.op == op]

    def to_jsonl(self) -> str:
        return "".join(json.dumps(e.to_json()) + "\n" for e in self.events)
