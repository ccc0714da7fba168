"""QEMU's own word on accesses it rejects, read from its `-d guest_errors` log.

QEMU answers a read of a width a device does not accept (HPET: 32/64-bit only) with 0 and
no error over qtest; `info mtree` shows no access widths. But its memory core logs each
refused access under LOG_GUEST_ERROR, e.g.
    Invalid read at addr 0x0, size 2, region 'hpet', reason: invalid size (min:4 max:4)
The machine runs QEMU with `-d guest_errors -D FILE`; this reads what was appended since
the last look, so a caller can tell "0 because the device said 0" from "0 because QEMU
dropped the access". The file is flushed per line by QEMU (measured on 7.2), and QEMU logs
before it sends the qtest reply, so a read's own line is there when the read returns.
RejectionCheck turns that into an error on the access (Machine.check_accesses, on by
default).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..errors import ConfigError, DriverkitError, InvalidWidth, MachineError, RejectedAccessWarning
from .qtest_wire import QtestWire

LINE_RE = re.compile(
    r"Invalid (?P<op>read|write|access) at addr 0x(?P<addr>[0-9A-Fa-f]+), size (?P<size>\d+), "
    r"region '(?P<region>[^']*)', reason: (?P<reason>.*)"
)
NOWHERE = "(null)"  # the region QEMU names for an access where nothing is mapped
MAX_CHUNK = 1 << 20  # one look reads at most this much; a flood is summarised, not loaded


@dataclass(frozen=True)
class RejectedAccess:
    """One access QEMU refused: region-relative address, size in bytes, QEMU's reason."""

    op: str
    addr: int
    size: int
    region: str
    reason: str

    def __str__(self) -> str:
        if self.region == NOWHERE:  # no region: QEMU logs the address itself
            return (f"QEMU rejected a {self.size * 8}-bit {self.op} at {self.addr:#x}: nothing "
                    f"is mapped there ({self.reason})")
        return (f"QEMU rejected a {self.size * 8}-bit {self.op} at offset {self.addr:#x} of "
                f"region '{self.region}': {self.reason}")

    def to_dict(self) -> dict:
        return {"op": self.op, "addr": self.addr, "size": self.size, "region": self.region,
                "reason": self.reason}


class GuestErrorLog:
    """The tail of QEMU's guest_errors log since the last `take()` (the file is kept open, so
    a look when nothing was logged is one lseek to its end)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._pos = 0
        self._fd: int | None = None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()

    def take(self) -> list[RejectedAccess]:
        """Rejected accesses logged since the previous call (oldest first).

        No log file yet is "nothing logged" (QEMU makes it at its first line); any other
        failure to read it raises, since it would make every refused access look performed.
        More than MAX_CHUNK since the last look: the newest lines, after one entry that says
        how much was skipped."""
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            size = os.lseek(self._fd, 0, os.SEEK_END)  # its size: cheaper than an fstat
            if size <= self._pos:
                return []
            start = max(self._pos, size - MAX_CHUNK)
            data = os.pread(self._fd, MAX_CHUNK, start)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise MachineError(f"cannot read QEMU's guest_errors log {self.path}: {exc}; "
                               "refused accesses could not be told from performed ones") from exc
        end = data.rfind(b"\n")
        if end < 0:
            return []
        out = []
        if start > self._pos:
            out.append(RejectedAccess("access", 0, 0, "(QEMU's log)",
                                      f"{start - self._pos} bytes of it skipped: more than "
                                      f"{MAX_CHUNK} logged since the last look"))
        self._pos = start + end + 1
        for line in data[: end + 1].decode(errors="replace").splitlines():
            m = LINE_RE.search(line)
            if m:
                out.append(RejectedAccess(m["op"], int(m["addr"], 16), int(m["size"]),
                                          m["region"], m["reason"].strip()))
        return out


Locate = Callable[[str, int], "tuple[str, int] | None"]
"""(space "mem"/"io", address) -> (region name, offset in it), as QEMU's flat view shows it."""

Writes = Callable[[], "Iterator[tuple[str, int, int, int]] | None"]
"""driverkit's recent writes, newest first, as (space, addr, n, value); None: not known."""

POLICIES = ("warn", "error")
READS = ("r", "R")  # the accesses that wait for QEMU: its log line is there when they return


class RejectionCheck:
    """After each read, and at each sync: did QEMU refuse an access? (Machine.check_accesses)

    Reads wait for QEMU's reply, and QEMU logs a refusal before it replies, so a read's own
    refusal is in the log when it returns. Writes are posted: QEMU performs (or refuses)
    one after its call has returned, so the check runs on reads and syncs, not on writes.
    Each line QEMU logged is told apart, by op, size, region and offset:
    - this read's own (or one of the same read_many batch): InvalidWidth under "error";
    - a write driverkit made (found in `writes`, the trace): an earlier write, refused when
      QEMU ran it; reported at this read or sync (which QEMU did perform), naming it from
      QEMU's line and the trace: InvalidWidth under "error" (also when the trace is off and
      no write can be told from another);
    - another read, or a write the trace does not hold: not this access (the guest's CPU,
      or an unchecked raw qtest access): a RejectedAccessWarning, never blamed on this one.
    On the hot path (nothing logged) the check is one lseek (the log's size), and none at all
    for a read that did not reach QEMU (shared RAM) while `wire` received no reply since the
    last look.
    """

    def __init__(self, log: GuestErrorLog, policy: str = "error",
                 locate: Locate | None = None, wire: QtestWire | None = None,
                 writes: Writes | None = None) -> None:
        self.log = log
        self.locate = locate
        self.writes = writes
        self.policy = policy
        self._wire = wire
        self._seen = -1  # whoever arms the check takes what was logged before it first

    @property
    def policy(self) -> str:
        """"error" (raise InvalidWidth) or "warn" (RejectedAccessWarning)."""
        return self._policy

    @policy.setter
    def policy(self, value: str) -> None:
        if value not in POLICIES:
            raise ConfigError(f"access check policy {value!r}: 'warn', 'error' or None")
        self._policy = value

    def after_read(self, op: str, addr: int, width: int, space: str = "mem",
                   batch: Sequence[int] = ()) -> None:
        """After an access (op "r"/"R" read, bulk read; others return at once). `batch`: all
        addresses of a read_many the access belongs to (its lines are its own)."""
        if op not in READS:
            return
        wire = self._wire
        if wire is not None:  # QEMU logs a refusal before its reply: no reply, no line
            if wire.replies == self._seen:
                return
            self._seen = wire.replies
        found = self.log.take()
        if found:
            self._judge(found, (op, addr, width, space, tuple(batch) or (addr,)))

    __call__ = after_read

    def settle(self, what: str = "this sync") -> None:
        """After posted writes were drained (a sync): report what QEMU refused meanwhile."""
        found = self.log.take()
        if found:
            self._judge(found, None, what)

    # --- telling the lines apart ------------------------------------------------------------

    def _where(self, space: str, addr: int, memo: dict) -> tuple[str, int] | None:
        key = (space, addr)
        if key not in memo:
            try:
                memo[key] = self.locate(space, addr) if self.locate is not None else None
            except DriverkitError:  # the map cannot be read (QEMU going away): compare less
                memo[key] = None
        return memo[key]

    def _is(self, r: RejectedAccess, space: str, addr: int, n: int, bulk: bool,
            memo: dict) -> bool:
        """Is QEMU's line `r` about an access of `n` bytes at `addr` (bulk: any part)?"""
        if r.region == NOWHERE:  # where nothing is mapped QEMU logs the address itself
            return addr <= r.addr < addr + n and (bulk or r.size == n)
        where = self._where(space, addr, memo)
        if where is None or where[0] != r.region:
            return False
        if bulk:  # QEMU splits a bulk access into accesses it picks
            return where[1] <= r.addr < where[1] + n
        return r.addr == where[1] and r.size == n

    def _written(self, r: RejectedAccess, memo: dict) -> tuple[str, int, int, int] | None | bool:
        """The traced write QEMU's line `r` is about; None if the trace holds none, True if
        the trace is off (it is taken for driverkit's, unnamed)."""
        recent = self.writes() if self.writes is not None else None
        if recent is None:
            return True
        for w in recent:
            space, addr, n, _value = w
            if (n == r.size or n > 8) and self._is(r, space, addr, n, n > 8, memo):
                return w
        return None

    def _judge(self, found: list[RejectedAccess],
               access: tuple[str, int, int, str, tuple[int, ...]] | None,
               what: str = "") -> None:
        memo: dict = {}
        mine: list[tuple[int, RejectedAccess]] = []
        writes: list[str] = []
        other: list[RejectedAccess] = []
        ours: list[RejectedAccess] = []
        for r in found:
            if r.op == "write":
                w = self._written(r, memo)
                if w is None:
                    other.append(r)
                else:
                    ours.append(r)
                    writes.append(str(r) if w is True else
                                  f"{_bits(w[2])} write of {w[3]:#x} at "
                                  f"{'port ' if w[0] == 'io' else ''}{w[1]:#x}: {r}")
                continue
            hit = None
            if access is not None:
                op, _addr, width, space, batch = access
                hit = next((a for a in batch if self._is(r, space, a, width, op == "R", memo)),
                           None)
            if hit is None:
                other.append(r)
            else:
                mine.append((hit, r))
        parts = []
        if access is not None:
            op, addr, width, space, _batch = access
            here = f"{width * 8}-bit read" if op == "r" else f"bulk read of {width} bytes"
            port = "port " if space == "io" else ""
            what = f"this {here} at {port}{addr:#x}"
            if mine:
                parts.append(f"{here} at {port}{mine[0][0]:#x}: QEMU did not perform it ("
                             + "; ".join(str(r) for _a, r in mine[:4]) + ")")
        if writes:
            done = ", which QEMU performed" if access is not None and not mine else ""
            parts.append(f"an earlier write was refused ({'; '.join(writes[:4])}"
                         f"{_more(writes)}): writes are posted, so QEMU refused it after its call "
                         f"had returned, and it is reported at {what}{done}")
        if parts and self.policy == "error":
            raise InvalidWidth("; ".join(parts), [r for _a, r in mine] + ours)
        for part in parts:
            warnings.warn(part, RejectedAccessWarning, stacklevel=5)
        if other:
            warnings.warn(
                f"QEMU refused an access that is not {what} nor a write driverkit made ("
                + "; ".join(str(r) for r in other[:4]) + f"{_more(other)}): the guest's CPU "
                "or an unchecked access (a raw qtest call) made it", RejectedAccessWarning,
                stacklevel=5)


def _bits(n: int) -> str:
    return f"{n * 8}-bit" if n <= 8 else f"{n}-byte"


def _more(rs: list) -> str:
    return f" and {len(rs) - 4} more" if len(rs) > 4 else ""
