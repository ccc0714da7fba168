"""The ordered MMIO/IRQ trace of one machine: every IoMem access and every IRQ level change.

Exported as JSON lines (one event per line, oldest first, optionally after one
header line holding `meta`), and loaded back for assertions or for replay
(driverkit.machine.replay) where QEMU is not installed.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConfigError

OPS = {"r": "read", "w": "write", "R": "read_bulk", "W": "write_bulk", "S": "memset", "i": "irq"}
FORMAT = "driverkit-trace/1"


@dataclass(frozen=True)
class TraceEvent:
    """One access (op read/write/read_bulk/write_bulk/memset) or IRQ level change (op irq).

    For irq events `addr` is the line and `value` the new level; for bulk ops `width`
    is the byte count and `data` the bytes moved, when the tracer was given them.
    """

    t_ns: int
    op: str
    addr: int
    width: int
    value: int
    space: str = "mem"
    data: bytes | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"t_ns": self.t_ns, "op": self.op, "addr": self.addr,
                               "width": self.width, "value": self.value, "space": self.space}
        if self.data is not None:
            out["data"] = self.data.hex()
        return out

    @classmethod
    def from_dict(cls, obj: dict) -> "TraceEvent":
        data = obj.get("data")
        return cls(int(obj["t_ns"]), str(obj["op"]), int(obj["addr"]), int(obj["width"]),
                   int(obj["value"]), str(obj.get("space", "mem")),
                   bytes.fromhex(data) if data is not None else None)

    def describe(self) -> str:
        """One line a person can read: 'write mem 0xfed00010/4 = 0x1'."""
        if self.op == "irq":
            return f"irq line {self.addr} {'raised' if self.value else 'lowered'}"
        where = f"{self.op} {self.space} {self.addr:#x}/{self.width}"
        if self.op in ("read", "write"):
            return f"{where} = {self.value:#x}"
        if self.op == "memset":
            return f"{where} fill {self.value:#04x}"
        return where + (f" data {self.data[:16].hex()}{'...' if len(self.data) > 16 else ''}"
                        if self.data is not None else "")


class Trace:
    """A bounded, ordered record (the newest `maxlen` events are kept)."""

    def __init__(self, maxlen: int = 1_000_000) -> None:
        # Raw tuples on the hot path; TraceEvent objects are made when someone looks.
        self._raw: deque[tuple] = deque(maxlen=maxlen)
        self.enabled = True
        self.meta: dict[str, Any] = {}
        """Free-form facts a replay needs (spec, BAR addresses...); exported in the header."""
        self.dropped = 0
        self._t0 = time.monotonic_ns()
        self.check: Callable[..., None] | None = None
        """Called after every traced read (op "r" or "R", which waited for QEMU) as
        check(op, addr, width, space[, batch]); may raise. Machine sets it (check_accesses:
        QEMU's log of refused accesses); None costs nothing. Writes are not checked when
        made: they are posted, so QEMU's word on them comes at the next read or sync."""

    def tracer(self, space: str = "mem"):
        """A callback for IoMem: tracer(op, addr, width, value[, data]); its `many(addrs,
        width, values)` traces a read_many batch (the check then sees the whole batch).

        `data` may be a memoryview of a caller's buffer: it is copied only if recorded."""
        raw, clock = self._raw, time.monotonic_ns

        def record(op: str, addr: int, width: int, value: int,
                   data: bytes | memoryview | None = None) -> None:
            if self.enabled:
                if len(raw) == raw.maxlen:
                    self.dropped += 1
                if isinstance(data, memoryview):
                    data = data.tobytes()
                raw.append((clock(), op, addr, width, value, space, data))
            if self.check is not None and (op == "r" or op == "R"):
                self.check(op, addr, width, space)

        def many(addrs: list[int], width: int, values: list[int]) -> None:
            if self.enabled:
                for addr, value in zip(addrs, values):
                    if len(raw) == raw.maxlen:
                        self.dropped += 1
                    raw.append((clock(), "r", addr, width, value, space, None))
            if self.check is not None and addrs:
                self.check("r", addrs[0], width, space, addrs)

        record.many = many  # type: ignore[attr-defined]
        return record

    def recent_writes(self) -> Iterator[tuple[str, int, int, int]] | None:
        """(space, addr, width or byte count, value) of the recorded writes, newest first;
        None while the trace does not record (nothing can be said about writes then)."""
        if not self.enabled:
            return None
        return ((sp, a, w, v) for _t, op, a, w, v, sp, _d in reversed(self._raw)
                if op == "w" or op == "W" or op == "S")

    def irq(self, line: int, level: bool) -> None:
        if self.enabled:
            self._raw.append((time.monotonic_ns(), "i", line, 0, int(level), "irq", None))

    @property
    def events(self) -> list[TraceEvent]:
        """The recorded events, oldest first."""
        t0 = self._t0
        return [TraceEvent(t - t0, OPS[op], a, w, v, sp, d)
                for t, op, a, w, v, sp, d in self._raw]

    def last(self) -> TraceEvent | None:
        """The newest event (without building the whole list), None when there is none."""
        if not self._raw:
            return None
        t, op, a, w, v, sp, d = self._raw[-1]
        return TraceEvent(t - self._t0, OPS[op], a, w, v, sp, d)

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self._raw)

    def clear(self) -> None:
        """Forget every event (a shared machine's trace is cleared between tests)."""
        self._raw.clear()
        self.dropped = 0
        self._t0 = time.monotonic_ns()

    def accesses(self, op: str | None = None) -> list[TraceEvent]:
        """The events, optionally only one kind (e.g. "write")."""
        return [e for e in self.events if op is None or e.op == op]

    def sequence(self, *, space: str | None = None, ops: tuple[str, ...] = ("read", "write"),
                 base: int = 0) -> list[tuple[str, int, int]]:
        """(op, addr - base, value) of single accesses, for compact assertions on access order."""
        return [(e.op, e.addr - base, e.value) for e in self.events
                if e.op in ops and (space is None or e.space == space)]

    # --- JSON lines -----------------------------------------------------------------------

    def to_jsonl(self, *, header: bool | None = None) -> str:
        """One JSON object per event; a header line with `meta` first when there is any meta."""
        lines = []
        if header or (header is None and self.meta):
            lines.append(json.dumps({"format": FORMAT, "meta": self.meta, "dropped": self.dropped},
                                    default=str))
        lines += [json.dumps(e.to_dict()) for e in self.events]
        return "".join(line + "\n" for line in lines)

    def dump(self, path: str | Path) -> Path:
        """Write the trace (with header) to `path` as JSON lines."""
        path = Path(path)
        path.write_text(self.to_jsonl(header=True))
        return path

    @classmethod
    def from_jsonl(cls, text: str, *, source: str = "trace") -> "Trace":
        """Parse JSON lines written by to_jsonl/dump; a bad line is refused with its number."""
        trace = cls()
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if "format" in obj and "t_ns" not in obj:
                    trace.meta = dict(obj.get("meta") or {})
                    trace.dropped = int(obj.get("dropped", 0))
                    continue
                ev = TraceEvent.from_dict(obj)
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{source}:{n}: not a trace event ({exc}): {line[:80]!r}") from None
            inv = {v: k for k, v in OPS.items()}
            if ev.op not in inv:
                raise ConfigError(f"{source}:{n}: unknown op {ev.op!r}")
            trace._raw.append((trace._t0 + ev.t_ns, inv[ev.op], ev.addr, ev.width, ev.value,
                               ev.space, ev.data))
        return trace

    @classmethod
    def load(cls, path: str | Path) -> "Trace":
        path = Path(path)
        return cls.from_jsonl(path.read_text(), source=str(path))
