"""QEMU's own word on accesses it rejects, read from its `-d guest_errors` log.

QEMU answers a read of a width a device does not accept (HPET: 32/64-bit only) with 0 and
no error over qtest; `info mtree` shows no access widths. But its memory core logs each
refused access under LOG_GUEST_ERROR, e.g.
    Invalid read at addr 0x0, size 2, region 'hpet', reason: invalid size (min:4 max:4)
The machine runs QEMU with `-d guest_errors -D FILE`; this reads what was appended since
the last look, so a caller can tell "0 because the device said 0" from "0 because QEMU
dropped the access". The file is flushed per line by QEMU (measured on 7.2).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, InvalidWidth, RejectedAccessWarning

LINE_RE = re.compile(
    r"Invalid (?P<op>read|write|access) at addr 0x(?P<addr>[0-9A-Fa-f]+), size (?P<size>\d+), "
    r"region '(?P<region>[^']*)', reason: (?P<reason>.*)"
)
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
        return (f"QEMU rejected a {self.size * 8}-bit {self.op} at offset {self.addr:#x} of "
                f"region '{self.region}': {self.reason}")

    def to_dict(self) -> dict:
        return {"op": self.op, "addr": self.addr, "size": self.size, "region": self.region,
                "reason": self.reason}


class GuestErrorLog:
    """The tail of QEMU's guest_errors log since the last `take()` (the file is kept open, so
    a look when nothing was logged is one fstat)."""

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
        """Rejected accesses logged since the previous call (oldest first)."""
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            size = os.fstat(self._fd).st_size
            if size <= self._pos:
                return []
            start = max(self._pos, size - MAX_CHUNK)
            data = os.pread(self._fd, MAX_CHUNK, start)
        except OSError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self._pos = start + end + 1
        out = []
        for line in data[: end + 1].decode(errors="replace").splitlines():
            m = LINE_RE.search(line)
            if m:
                out.append(RejectedAccess(m["op"], int(m["addr"], 16), int(m["size"]),
                                          m["region"], m["reason"].strip()))
        return out


class RejectionCheck:
    """After each access: QEMU rejected it? Warn (RejectedAccessWarning) or raise
    InvalidWidth, naming the access and QEMU's reason (Machine.check_accesses)."""

    def __init__(self, log: GuestErrorLog, policy: str) -> None:
        if policy not in ("warn", "error"):
            raise ConfigError(f"access check policy {policy!r}: 'warn', 'error' or None")
        self.log, self.policy = log, policy
        log.take()  # what was logged before the check began is not this access's

    def __call__(self, op: str, addr: int, width: int) -> None:
        found = self.log.take()
        if not found:
            return
        what = {"r": "read", "w": "write"}.get(op, "bulk access")
        msg = (f"{width * 8}-bit {what} at {addr:#x}: QEMU did not perform it ("
               + "; ".join(str(r) for r in found[:4]) + ")")
        if self.policy == "error":
            raise InvalidWidth(msg)
        warnings.warn(msg, RejectedAccessWarning, stacklevel=4)
