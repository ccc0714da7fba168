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
from dataclasses import dataclass
from pathlib import Path

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
    """The tail of QEMU's guest_errors log since the last `take()`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._pos = 0

    def take(self) -> list[RejectedAccess]:
        """Rejected accesses logged since the previous call (oldest first)."""
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size <= self._pos:
                    return []
                start = max(self._pos, size - MAX_CHUNK)
                f.seek(start)
                data = f.read(MAX_CHUNK)
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
