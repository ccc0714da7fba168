"""Access kinds of a register or field: what a read or a write does to the device.

Each kind says whether reads and writes are allowed at all, and which of them
change device state (so the layout check knows what it must not do uninvited).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Access:
    """One access kind. `write` is how written bits act: store, ignore, w1c, w1s."""

    name: str
    readable: bool
    writable: bool
    write: str  # "store" | "ignore" | "w1c" | "w1s"
    read_clears: bool = False
    doc: str = ""

    @property
    def destructive_read(self) -> bool:
        """Reading changes device state (read-to-clear)."""
        return self.read_clears

    @property
    def destructive_write(self) -> bool:
        """Writing a 1 changes state beyond storing it (clear/set/trigger), or is write-only."""
        return self.write in ("w1c", "w1s") or (self.writable and not self.readable)

    def __repr__(self) -> str:
        return self.name

    __str__ = __repr__


RO = Access("RO", True, False, "ignore", doc="read-only; the API refuses writes")
RW = Access("RW", True, True, "store", doc="read/write; reads return what was written")
WO = Access("WO", False, True, "store", doc="write-only; the API refuses reads")
W1C = Access("W1C", True, True, "w1c", doc="write 1 to clear, 0 has no effect")
W1S = Access("W1S", True, True, "w1s", doc="write 1 to set, 0 has no effect")
RC = Access(
    "RC", True, False, "ignore", read_clears=True, doc="read-to-clear; reading is destructive"
)

ACCESS_KINDS: dict[str, Access] = {a.name: a for a in (RO, RW, WO, W1C, W1S, RC)}
