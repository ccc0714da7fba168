"""Register: one declared register (offset, construct type, access rules, facts for the check),
and BoundRegister: that declaration bound to an IoMem, with read/write/modify/wait_for.

All bit arithmetic works on the register's logical integer (see shape.py); masks are
computed once when the register is declared.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import construct as cs

from ..errors import AccessDenied, LayoutError, MachineTimeout, RegisterError, ValueRangeError
from .access import RO, RW, WO, Access
from .shape import WIDTHS, Field, Shape, shape_of

if TYPE_CHECKING:
    from .block import RegisterBlock
    from .target import RegisterIo

Readback = Callable[[int], int]
Trigger = Callable[["RegisterBlock"], None]


def _swap(value: int, width: int) -> int:
    return int.from_bytes(value.to_bytes(width, "little"), "big")


class Register:
    """A register declaration: `Register(offset, subcon, access=RW, reset=None, **facts)`.

    Facts for the layout check (all optional):
      writable      mask of bits that store writes (RW registers where not all bits do)
      volatile      the value changes on its own (counters): only check reads work and change
      widths        legal access widths in bytes, e.g. (4,); wider registers are split into these
      readback      f(written) -> value read back, where the device deviates (edu liveness: ~x)
      side_effects  any access does something: the check leaves it alone unless destructive=True
      fields        per-field access overrides, e.g. {"computing": RO, "int_status": W1C}
      trigger       f(regs) making the device set W1C/RC bits, so destructive checks clear them
      alias         deliberately shares its address with another register (THR/RBR style)
      byteorder     "little"/"big" when the subcon does not say (byte-aligned BitStruct fields)
    """

    def __init__(
        self,
        offset: int,
        subcon: cs.Construct,
        access: Access = RW,
        reset: int | Mapping[str, Any] | None = None,
        *,
        writable: int | None = None,
        volatile: bool = False,
        widths: Iterable[int] | None = None,
        readback: Readback | None = None,
        side_effects: bool = False,
        fields: Mapping[str, Access] | None = None,
        trigger: Trigger | None = None,
        alias: bool = False,
        byteorder: str | None = None,
        doc: str = "",
    ) -> None:
        if not isinstance(access, Access):
            raise LayoutError(f"access {access!r} is not an access kind (RO, RW, WO, W1C, W1S, RC)")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise LayoutError(f"register offset {offset!r} must be a non-negative int")
        self.name = ""
        self.offset = offset
        self.subcon = subcon
        self.access = access
        self.shape: Shape = shape_of(subcon, byteorder)
        self.width = self.shape.width
        if offset % self.width:
            raise LayoutError(
                f"offset {offset:#x} is misaligned for a {self.width * 8}-bit register "
                f"(must be a multiple of {self.width})"
            )
        self.volatile = bool(volatile)
        self.side_effects = bool(side_effects)
        self.readback = readback
        self.trigger = trigger
        self.alias = bool(alias)
        self.doc = doc
        if readback is not None and not callable(readback):
            raise LayoutError("readback must be a function written -> read-back value")

        self.widths: tuple[int, ...] | None = None
        if widths is not None:
            ws = tuple(sorted(set(widths)))
            bad = [w for w in ws if w not in WIDTHS or w > self.width]
            if bad or not ws:
                raise LayoutError(
                    f"widths {tuple(widths)!r}: each must be 1, 2, 4 or 8 bytes and at most the "
                    f"register's {self.width} bytes"
                )
            self.widths = ws
        self.access_width = (
            self.width if self.widths is None or self.width in self.widths else max(self.widths)
        )

        self.field_access: dict[str, Access] = {}
        for name, acc in (fields or {}).items():
            try:
                self.shape.field(name)
            except RegisterError as exc:
                raise LayoutError(f"fields={{{name!r}: ...}}: {exc}") from None
            if not isinstance(acc, Access):
                raise LayoutError(f"field {name!r}: {acc!r} is not an access kind")
            self.field_access[name] = acc
        self._compute_masks(writable)

        self.reset: int | None = None
        if reset is not None:
            try:
                self.reset = self.shape.encode(dict(reset) if isinstance(reset, Mapping) else reset)
            except (RegisterError, ValueRangeError) as exc:
                raise LayoutError(f"reset value: {exc}") from None

    def _compute_masks(self, writable: int | None) -> None:
        """Classify every bit by what a write does to it (logical domain)."""
        full = self.shape.full
        by_kind = {"store": 0, "ignore": 0, "w1c": 0, "w1s": 0}
        wo = rc = unreadable = 0
        units: list[tuple[int, Access]]
        if self.shape.fields:
            units = [
                (f.mask, self.field_access.get(f.name, self.access)) for f in self.shape.fields
            ]
        else:
            units = [(full, self.access)]
        for mask, acc in units:
            by_kind[acc.write if acc.writable else "ignore"] |= mask
            if acc.writable and not acc.readable:
                wo |= mask
            if acc.read_clears:
                rc |= mask
            if not acc.readable:
                unreadable |= mask
        self.reserved_mask = self.shape.reserved_mask
        self.w1c_mask = by_kind["w1c"]
        self.w1s_mask = by_kind["w1s"]
        self.wo_mask = wo
        self.rc_mask = rc
        store = by_kind["store"] & ~wo
        if writable is not None:
            if not isinstance(writable, int) or writable < 0 or writable > full:
                raise LayoutError(f"writable mask {writable!r} does not fit {self.width * 8} bits")
            if self.access is not RW and not any(a is RW for a in self.field_access.values()):
                raise LayoutError(f"writable= is for RW registers; this one is {self.access}")
            store = writable
        self.store_mask = store
        # bits a read-modify-write must write as 0 unless the caller names them
        self.protect_mask = self.w1c_mask | self.w1s_mask | self.wo_mask

    # --- declaration facts ------------------------------------------------------------------

    @property
    def readable(self) -> bool:
        return self.access.readable

    @property
    def writable_access(self) -> bool:
        return self.access.writable or any(a.writable for a in self.field_access.values())

    @property
    def destructive_read(self) -> bool:
        """Reading has effects the check must not cause uninvited."""
        return self.side_effects or bool(self.rc_mask) or not self.readable

    @property
    def end(self) -> int:
        return self.offset + self.width

    def short_access(self) -> str:
        """ "RW", or "RW*" when some fields override it."""
        return f"{self.access}" + ("*" if self.field_access else "")

    def describe_access(self) -> str:
        extra = ",".join(f"{n}:{a}" for n, a in self.field_access.items())
        return f"{self.access}" + (f"({extra})" if extra else "")

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.name:
            self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance._bind_member(self)

    def __repr__(self) -> str:
        name = f" {self.name}" if self.name else ""
        return f"<Register{name} @{self.offset:#x} {self.describe_access()} {self.width * 8}-bit>"

    def at(self, offset: int) -> Register:
        """A copy of this declaration at another offset (used by arrays)."""
        clone = object.__new__(Register)
        clone.__dict__.update(self.__dict__)
        if offset % self.width:
            raise LayoutError(
                f"offset {offset:#x} is misaligned for a {self.width * 8}-bit register"
            )
        clone.offset = offset
        return clone


class BoundRegister:
    """A register of a live device: plain synchronous accesses, plus an async wait_for."""

    __slots__ = ("_aw", "_big", "_shape", "_w", "decl", "iomem", "offset", "path")

    def __init__(self, decl: Register, iomem: RegisterIo, offset: int, path: str) -> None:
        self.decl = decl
        self.iomem = iomem
        self.offset = offset  # within iomem
        self.path = path
        self._shape = decl.shape
        self._w = decl.width
        self._aw = decl.access_width
        self._big = decl.shape.byteorder == "big" and decl.width > 1

    def __repr__(self) -> str:
        return (
            f"<BoundRegister {self.path} @{self.offset:#x} {self.decl.describe_access()} "
            f"{self._w * 8}-bit on {self.iomem!r}>"
        )

    @property
    def fields(self) -> tuple[Field, ...]:
        return self._shape.fields

    # --- unchecked access: no access-kind checks ---------------------------------------------
    # The layout check and dumps read WO/RC registers and write RO ones on purpose, to see
    # what the device really does; drivers use read()/write()/modify() below.

    def read_raw(self) -> int:
        """The register's bytes as the bus returns them (little-endian), split into its
        access width; no access-kind check."""
        if self._aw == self._w:
            return self.iomem.read_width(self.offset, self._w)
        value = 0
        for i in range(0, self._w, self._aw):
            value |= self.iomem.read_width(self.offset + i, self._aw) << (8 * i)
        return value

    def write_raw(self, raw: int) -> None:
        """Write the bus-order value `raw`, split into the access width; no access-kind check."""
        if self._aw == self._w:
            self.iomem.write_width(self.offset, self._w, raw)
            return
        piece = (1 << (8 * self._aw)) - 1
        for i in range(0, self._w, self._aw):
            self.iomem.write_width(self.offset + i, self._aw, (raw >> (8 * i)) & piece)

    def read_logical(self) -> int:
        """The register's value in its own byte order (what fields decode); no access check."""
        raw = self.read_raw()
        return _swap(raw, self._w) if self._big else raw

    def write_logical(self, value: int) -> None:
        """Write `value` given in the register's own byte order; no access-kind check."""
        self.write_raw(_swap(value, self._w) if self._big else value)

    # --- access-checked API -----------------------------------------------------------------

    def _deny(self, what: str) -> AccessDenied:
        return AccessDenied(
            f"register {self.path} at {self.offset:#x} is {self.decl.access}: {what} refused"
        )

    def read_int(self) -> int:
        """The register as an integer (its logical value, in its own byte order)."""
        if not self.decl.access.readable:
            raise self._deny("read")
        return self.read_logical()

    def read(self) -> Any:
        """Read and decode: an int, or a construct Container for bitfield registers."""
        return self._shape.decode(self.read_int())

    def read_field(self, name: str) -> Any:
        """One field's decoded value (reads the register once)."""
        f = self._shape.field(name)
        return f.decode((self.read_int() >> f.shift) & ((1 << f.bits) - 1))

    def write(self, value: Any = None, /, **fields: Any) -> None:
        """Write the whole register: an int, a mapping of fields, or fields as keywords.

        Fields not given are written as 0 (this is a full write; use modify() to keep them).
        """
        if not self.decl.writable_access:
            raise self._deny("write")
        if value is not None and fields:
            raise RegisterError("write() takes a value or fields, not both")
        if value is None:
            if not fields:
                raise RegisterError("write() needs a value or fields")
            self._check_field_writes(fields, reserved_ok=True)
            value = fields
        self.write_logical(self._shape.encode(value))

    def modify(self, **fields: Any) -> int:
        """Read-modify-write: set the named fields, keep every other bit.

        Reserved bits are preserved; W1C/W1S/WO bits not named are written as 0 so
        they are never cleared, set or triggered by accident. Returns the value written.
        """
        if not fields:
            raise RegisterError("modify() needs at least one field=value")
        if not (self.decl.access.readable and self.decl.writable_access) or self.decl.rc_mask:
            raise self._deny("read-modify-write")
        self._check_field_writes(fields)
        current = self.read_logical()
        named = 0
        for name in fields:
            named |= self._shape.field(name).mask
        new = self._shape.encode_fields(fields, current & ~(self.decl.protect_mask & ~named))
        self.write_logical(new)
        return new

    def _check_field_writes(self, value: Mapping[str, Any], reserved_ok: bool = False) -> None:
        for name in value:
            f = self._shape.field(name)
            acc = self.decl.field_access.get(name, self.decl.access)
            if not acc.writable:
                raise AccessDenied(
                    f"field {name!r} of register {self.path} is {acc}: write refused"
                )
            if f.reserved and not reserved_ok:
                raise AccessDenied(
                    f"field {name!r} of register {self.path} is reserved: modify() preserves it"
                )

    # --- waiting ----------------------------------------------------------------------------

    async def wait_for(
        self,
        predicate: Callable[[Any], bool] | None = None,
        *,
        timeout: float,
        interval: float = 0.001,
        **fields: Any,
    ) -> Any:
        """Poll until predicate(value) holds or every field equals its value; return the value.

        Raises MachineTimeout after `timeout` seconds, naming the last value seen.
        """
        if predicate is None and not fields:
            raise RegisterError("wait_for() needs a predicate or field=value conditions")
        if timeout is None or timeout <= 0:
            raise RegisterError(f"wait_for() timeout must be > 0 seconds, got {timeout!r}")
        for name in fields:
            self._shape.field(name)
        want = {n: self._shape.field(n).encode(v) for n, v in fields.items()}

        def satisfied(value: Any, logical: int) -> bool:
            for n, v in want.items():
                f = self._shape.field(n)
                if (logical >> f.shift) & ((1 << f.bits) - 1) != v:
                    return False
            return predicate(value) if predicate is not None else True

        deadline = time.monotonic() + timeout
        while True:
            logical = self.read_int()
            value = self._shape.decode(logical)
            if satisfied(value, logical):
                return value
            if time.monotonic() >= deadline:
                cond = ", ".join(f"{n}={v!r}" for n, v in fields.items())
                if predicate is not None:
                    cond = (cond + " and " if cond else "") + getattr(
                        predicate, "__name__", "predicate"
                    )
                raise MachineTimeout(
                    f"register {self.path} at {self.offset:#x} to satisfy {cond}"
                    f" (last value {logical:#x})",
                    timeout,
                )
            await asyncio.sleep(interval)


__all__ = ["RO", "RW", "WO", "BoundRegister", "Register"]


def read_logical_many(registers: Sequence[BoundRegister]) -> list[int]:
    """Logical values of many registers, read in the given order.

    When they share one target that offers `read_many(offsets, width)` (an IoMem over
    qtest), each run of same-width accesses goes out pipelined instead of one round trip
    per register. No access-kind checks (as read_logical).
    """
    if not registers:
        return []
    io = registers[0].iomem
    many = getattr(io, "read_many", None)
    if many is None or any(r.iomem is not io for r in registers):
        return [r.read_logical() for r in registers]
    pieces = [(r.offset + i, r._aw) for r in registers for i in range(0, r._w, r._aw)]
    values: list[int] = []
    start = 0
    for k in range(1, len(pieces) + 1):
        if k == len(pieces) or pieces[k][1] != pieces[start][1]:
            values += many([off for off, _ in pieces[start:k]], pieces[start][1])
            start = k
    out, pos = [], 0
    for r in registers:
        raw = 0
        for i in range(0, r._w, r._aw):
            raw |= values[pos] << (8 * i)
            pos += 1
        out.append(_swap(raw, r._w) if r._big else raw)
    return out
