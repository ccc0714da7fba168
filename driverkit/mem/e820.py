"""The x86 e820 table and the kernel's edits to it (arch/x86/kernel/e820.c, 6.1).

`E820Table` keeps an unsorted list like the kernel's `e820_table` between edits:
`range_add` appends, `range_remove`/`range_update` cut entries in place, and only
`sanitize()` (the kernel's `e820__update_table`) sorts, resolves overlaps (highest type
wins) and merges neighbours — except PRAM and soft-reserved, which never merge.
Also here: the fw_cfg `etc/e820` file format and the kernel's log/iomem names.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Iterable

from ..errors import MemModelError

U64 = (1 << 64) - 1


class E820Type(IntEnum):
    RAM = 1
    RESERVED = 2
    ACPI = 3
    NVS = 4
    UNUSABLE = 5
    PMEM = 7
    PRAM = 12
    RESERVED_KERN = 128
    SOFT_RESERVED = 0xEFFFFFFF


def type_log_name(t: int) -> str:
    """How `e820_print_type()` names a type in `BIOS-e820:`/`user:` lines."""
    if t in (E820Type.RAM, E820Type.RESERVED_KERN):
        return "usable"
    return {
        E820Type.RESERVED: "reserved",
        E820Type.SOFT_RESERVED: "soft reserved",
        E820Type.ACPI: "ACPI data",
        E820Type.NVS: "ACPI NVS",
        E820Type.UNUSABLE: "unusable",
        E820Type.PMEM: "persistent (type 7)",
        E820Type.PRAM: "persistent (type 12)",
    }.get(t, f"type {t}")


def type_iomem_name(t: int) -> str:
    """How `e820_type_to_string()` names a type in /proc/iomem."""
    return {
        E820Type.RAM: "System RAM",
        E820Type.RESERVED_KERN: "System RAM",
        E820Type.ACPI: "ACPI Tables",
        E820Type.NVS: "ACPI Non-volatile Storage",
        E820Type.UNUSABLE: "Unusable memory",
        E820Type.PRAM: "Persistent Memory (legacy)",
        E820Type.PMEM: "Persistent Memory",
        E820Type.RESERVED: "Reserved",
        E820Type.SOFT_RESERVED: "Soft Reserved",
    }.get(t, "Unknown E820 type")


_LOG_NAME_TO_TYPE = {
    "usable": E820Type.RAM,
    "reserved": E820Type.RESERVED,
    "soft reserved": E820Type.SOFT_RESERVED,
    "ACPI data": E820Type.ACPI,
    "ACPI NVS": E820Type.NVS,
    "unusable": E820Type.UNUSABLE,
}


@dataclass(frozen=True)
class E820Entry:
    """One range [addr, addr+size) of a type."""

    addr: int
    size: int
    type: int

    @property
    def end(self) -> int:
        """Exclusive end."""
        return self.addr + self.size

    @property
    def last(self) -> int:
        """Inclusive end, as the kernel prints it."""
        return self.addr + self.size - 1

    def log_line(self, prefix: str = "BIOS-e820") -> str:
        return f"{prefix}: [mem {self.addr:#018x}-{self.last:#018x}] {type_log_name(self.type)}"

    def __repr__(self) -> str:
        return f"E820Entry({self.addr:#x}-{self.last:#x} {type_log_name(self.type)})"


# --- fw_cfg etc/e820 -------------------------------------------------------------------------

_FW_ENTRY = struct.Struct("<QQI")


def parse_fw_cfg_e820(data: bytes) -> list[E820Entry]:
    """Decode QEMU's fw_cfg file `etc/e820`: packed {LE64 addr, LE64 len, LE32 type} entries."""
    if len(data) % _FW_ENTRY.size:
        raise MemModelError(
            f"etc/e820: {len(data)} bytes is not a whole number of {_FW_ENTRY.size}-byte entries"
        )
    out = []
    for i in range(0, len(data), _FW_ENTRY.size):
        addr, length, typ = _FW_ENTRY.unpack_from(data, i)
        if length == 0:
            continue
        if addr + length - 1 > U64:
            raise MemModelError(f"etc/e820 entry {i // 20}: {addr:#x}+{length:#x} wraps past 2^64")
        out.append(E820Entry(addr, length, typ))
    return out


def encode_fw_cfg_e820(entries: Iterable[E820Entry]) -> bytes:
    """Encode entries in the `etc/e820` layout (the inverse of parse_fw_cfg_e820)."""
    return b"".join(_FW_ENTRY.pack(e.addr, e.size, int(e.type)) for e in entries)


_LOG_RE = re.compile(
    r"(?P<prefix>BIOS-e820|user|e820|extended):\s*"
    r"\[mem (?P<a>0x[0-9a-fA-F]+)-(?P<b>0x[0-9a-fA-F]+)\]\s+"
    r"(?P<t>usable|reserved|soft reserved|ACPI data|ACPI NVS|unusable"
    r"|persistent \(type \d+\)|type \d+)"
)


def parse_e820_log(text: str, prefix: str = "BIOS-e820") -> list[E820Entry]:
    """Read `BIOS-e820:` (or `user:`) lines from a dmesg/serial log into entries.

    The kernel prints a map sorted, so an entry that does not start above the one before
    begins a second copy (a console log that also holds dmesg): only the first is returned.
    """
    out: list[E820Entry] = []
    for m in _LOG_RE.finditer(text):
        if m.group("prefix") != prefix:
            continue
        a, b, t = int(m.group("a"), 16), int(m.group("b"), 16), m.group("t")
        if out and a <= out[-1].addr:
            break
        num = re.search(r"\d+", t)
        typ = _LOG_NAME_TO_TYPE.get(t) or (int(num.group()) if num else E820Type.RESERVED)
        out.append(E820Entry(a, b - a + 1, typ))
    return out


def format_table(entries: Iterable[E820Entry], prefix: str = "BIOS-e820") -> str:
    return "\n".join(e.log_line(prefix) for e in entries)


# --- the kernel's table and its edits ---------------------------------------------------------


def _nomerge(t: int) -> bool:
    return t in (E820Type.PRAM, E820Type.SOFT_RESERVED)


def sanitize(entries: list[E820Entry]) -> list[E820Entry] | None:
    """`e820__update_table()`: sort, resolve overlaps (larger type wins), merge neighbours.

    Returns None where the kernel returns -1 (fewer than two entries, or a wrapping entry).
    """
    if len(entries) < 2:
        return None
    for e in entries:
        if e.addr + e.size < e.addr or e.addr + e.size > U64 + 1:
            return None
    points = []  # (addr, is_end, index)
    for i, e in enumerate(entries):
        if e.size:
            points.append((e.addr, 0, i))
            points.append((e.addr + e.size, 1, i))
    points.sort(key=lambda p: (p[0], p[1]))
    overlap: list[int] = []
    out: list[E820Entry] = []
    last_type = 0
    last_addr = 0
    for addr, is_end, i in points:
        if is_end:
            overlap.remove(i)
        else:
            overlap.append(i)
        current = max((entries[j].type for j in overlap), default=0)
        if current != last_type or _nomerge(current):
            if last_type != 0 and addr - last_addr:
                out.append(E820Entry(last_addr, addr - last_addr, last_type))
            if current != 0:
                last_addr = addr
            last_type = current
    return out


def _cut(e: E820Entry, fs: int, fe: int) -> E820Entry:
    """What is left of `e` after removing [fs, fe), which overlaps one of its ends."""
    start = e.addr if e.addr < fs else fe
    return E820Entry(start, e.size - (fe - fs), e.type)


class E820Table:
    """A mutable e820 table that follows the kernel's edit functions step by step."""

    def __init__(self, entries: Iterable[E820Entry] = ()) -> None:
        self.entries: list[E820Entry] = list(entries)
        self.log: list[str] = []

    def copy(self) -> "E820Table":
        t = E820Table(self.entries)
        return t

    def clear(self) -> None:
        self.entries = []

    def range_add(self, start: int, size: int, typ: int) -> None:
        """`e820__range_add`: append; overlaps are resolved by the next sanitize()."""
        self.entries.append(E820Entry(start, size, typ))

    def range_remove(
        self, start: int, size: int, old_type: int = 0, check_type: bool = False
    ) -> int:
        """`e820__range_remove`: cut [start, start+size) out of (matching) entries."""
        if size > U64 - start:
            size = U64 - start
        end = start + size
        line = f"e820: remove [mem {start:#010x}-{end - 1:#010x}] "
        self.log.append(line + (type_log_name(old_type) if check_type else ""))
        removed = 0
        i = 0
        while i < len(self.entries):
            e = self.entries[i]
            if check_type and e.type != old_type:
                i += 1
                continue
            e_end = e.addr + e.size
            if e.addr >= start and e_end <= end:
                removed += e.size
                self.entries[i] = E820Entry(0, 0, 0)
            elif e.addr < start and e_end > end:
                self.range_add(end, e_end - end, e.type)
                self.entries[i] = E820Entry(e.addr, start - e.addr, e.type)
                removed += size
            else:
                fs, fe = max(start, e.addr), min(end, e_end)
                if fs < fe:
                    removed += fe - fs
                    self.entries[i] = _cut(e, fs, fe)
            i += 1
        return removed

    def range_update(self, start: int, size: int, old_type: int, new_type: int) -> int:
        """`e820__range_update`: retype the parts of `old_type` entries inside the range."""
        if size > U64 - start:
            size = U64 - start
        end = start + size
        self.log.append(
            f"e820: update [mem {start:#010x}-{end - 1:#010x}] "
            f"{type_log_name(old_type)} ==> {type_log_name(new_type)}"
        )
        updated = 0
        i = 0
        while i < len(self.entries):
            e = self.entries[i]
            if e.type != old_type:
                i += 1
                continue
            e_end = e.addr + e.size
            if e.addr >= start and e_end <= end:
                self.entries[i] = E820Entry(e.addr, e.size, new_type)
                updated += e.size
            elif e.addr < start and e_end > end:
                self.range_add(start, size, new_type)
                self.range_add(end, e_end - end, e.type)
                self.entries[i] = E820Entry(e.addr, start - e.addr, e.type)
                updated += size
            else:
                fs, fe = max(start, e.addr), min(end, e_end)
                if fs < fe:
                    self.range_add(fs, fe - fs, new_type)
                    updated += fe - fs
                    self.entries[i] = _cut(e, fs, fe)
            i += 1
        return updated

    def sanitize(self) -> bool:
        """`e820__update_table`; False (table untouched) where the kernel returns -1."""
        new = sanitize(self.entries)
        if new is None:
            return False
        self.entries = new
        return True

    def ram_ranges(self) -> list[tuple[int, int]]:
        return [
            (e.addr, e.end)
            for e in self.entries
            if e.type in (E820Type.RAM, E820Type.RESERVED_KERN)
        ]

    def end_of_ram_pfn(self, limit_pfn: int = 1 << 40) -> int:
        """`e820__end_ram_pfn`: highest RAM page frame (rounded down), below limit_pfn."""
        last = 0
        for e in self.entries:
            if e.type not in (E820Type.RAM, E820Type.RESERVED_KERN):
                continue
            s, t = e.addr >> 12, e.end >> 12
            if s >= limit_pfn:
                continue
            last = max(last, min(t, limit_pfn))
        return last

    def format(self, prefix: str = "user") -> str:
        return format_table(self.entries, prefix)
