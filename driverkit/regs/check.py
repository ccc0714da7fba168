"""The register layout test: does the live device behave as the RegisterMap declares?

Two phases, so writes to one register cannot disturb another's reset value:
  1. reads  - reset values, and which access widths read back consistently;
  2. writes - bit patterns into RW/RO registers (read back, then restore), W1C/W1S/RC/WO
              behaviour, volatile registers observed changing.
Nothing the declaration calls destructive (RC reads, W1C/W1S/WO writes, side_effects=True)
is done unless destructive=True. The device is expected to be fresh from reset.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import InvalidWidth
from ..results import Verdict
from .findings import CheckReport, Finding, hex_of
from .shape import WIDTHS

if TYPE_CHECKING:
    from .block import RegisterBlock
    from .register import BoundRegister

TRIGGER_TIMEOUT = 1.0  # seconds to wait for a trigger to set W1C/RC bits
VOLATILE_READS = 5
VOLATILE_GAP = 0.002
TEST_ORDER = ("reset", "widths", "writes", "restore", "w1c", "w1s", "read-to-clear", "volatile")


def _pattern(byte: int, width: int) -> int:
    return int.from_bytes(bytes([byte]) * width, "little")


class _Checker:
    def __init__(self, regs: RegisterBlock, destructive: bool) -> None:
        self.regs = regs
        self.destructive = destructive
        self.report = CheckReport(type(regs).__name__, repr(regs.iomem), destructive)
        self.initial: dict[str, int] = {}
        self.deferred_widths: set[str] = set()
        self.patterned: set[str] = set()

    def add(
        self,
        r: BoundRegister,
        test: str,
        verdict: Verdict,
        note: str = "",
        expected: int | None = None,
        observed: int | None = None,
    ) -> None:
        d = r.decl
        self.report.findings.append(
            Finding(r.path, test, expected, observed, verdict, note,
                    offset=r.offset, width=d.width, access=d.short_access())
        )

    # --- phase 1: reads -------------------------------------------------------------------

    def phase_reads(self, r: BoundRegister) -> None:
        d = r.decl
        if not d.readable:
            self.add(r, "reset", Verdict.SKIPPED, "write-only: never read")
            return
        if d.destructive_read and not self.destructive:
            why = "side_effects=True" if d.side_effects else "read-to-clear"
            self.add(r, "reset", Verdict.SKIPPED, f"{why}: not read (pass destructive=True)")
            return
        value = r.read_logical()
        self.initial[r.path] = value
        if d.volatile:
            extra = (
                ""
                if d.reset is None
                else f" (declared reset {hex_of(d.reset, d.width)} not compared)"
            )
            self.add(r, "reset", Verdict.INFO, "volatile" + extra, observed=value)
        elif d.reset is not None:
            diff = (value ^ d.reset) & ~d.wo_mask & d.shape.full
            if diff:
                self.add(
                    r,
                    "reset",
                    Verdict.DIFFER,
                    f"bits {hex_of(diff, d.width)} differ from the declared reset value",
                    expected=d.reset,
                    observed=value,
                )
            else:
                self.add(r, "reset", Verdict.AGREE, expected=d.reset, observed=value)
        else:
            self.add(r, "reset", Verdict.INFO, "no reset value declared", observed=value)
        if not d.volatile and not d.rc_mask:
            self.probe_widths(r, defer=self._will_pattern_test(r))

    def _will_pattern_test(self, r: BoundRegister) -> bool:
        d = r.decl
        testable = d.shape.full & ~d.reserved_mask & ~d.protect_mask
        return bool(testable) and not (d.side_effects and not self.destructive)

    def probe_widths(self, r: BoundRegister, defer: bool = False) -> None:
        """Read at each narrower width and compare; a value of 0/all-ones proves nothing,
        so RW registers are probed again while a bit pattern is in them."""
        d = r.decl
        reference = r.read_raw()
        accepted: list[tuple[int, int | None]] = []
        refused: list[tuple[int, int | None]] = []
        for w in WIDTHS:
            if w > d.width:
                break
            value: int | None = 0
            try:
                for i in range(0, d.width, w):
                    value = int(value or 0) | r.iomem.read_width(r.offset + i, w) << (8 * i)
            except InvalidWidth as exc:  # QEMU said the device refused this width
                if any(getattr(x, "op", "") == "write" for x in exc.rejected):
                    raise  # an earlier write's refusal: not this probe's finding
                value = None
            (accepted if value == reference else refused).append((w, value))
        acc = tuple(w for w, _ in accepted)
        declared = d.widths
        desc = f"reads consistently at widths {','.join(map(str, acc)) or 'none'}"
        if declared is not None:
            missing = [(w, v) for w, v in refused if w in declared]
            if missing:
                ref = hex_of(reference, d.width)
                got = "; ".join(f"width {w} refused by the device (QEMU did not perform the read)"
                                if v is None else f"width {w} read {hex_of(v, d.width)} instead "
                                f"of {ref}" for w, v in missing)
                self.add(
                    r,
                    "widths",
                    Verdict.DIFFER,
                    f"declared widths {declared} but {got}",
                    observed=None,
                )
                return
        if reference in (0, d.shape.full) and refused == [] and defer:
            self.deferred_widths.add(r.path)
            return
        if reference in (0, d.shape.full) and refused == []:
            self.add(
                r, "widths", Verdict.INFO, desc + f" (inconclusive: value {hex_of(reference, d.width)})"
            )
        elif declared is not None:
            self.add(r, "widths", Verdict.AGREE, desc + f"; declared {declared}")
        else:
            self.add(r, "widths", Verdict.INFO, desc)

    # --- phase 2: writes and behaviour ------------------------------------------------------

    def phase_writes(self, r: BoundRegister) -> None:
        d = r.decl
        if d.side_effects and not self.destructive:
            self.add(
                r, "writes", Verdict.SKIPPED, "side_effects=True: not written (pass destructive=True)"
            )
            return
        if d.volatile:
            self.watch_volatile(r)
            return
        if not d.readable:
            self.write_only(r)
            return
        if d.rc_mask:
            self.read_to_clear(r)
            return
        self.patterns(r)
        if d.w1c_mask:
            self.w1c(r)
        if d.w1s_mask:
            self.w1s(r)

    def watch_volatile(self, r: BoundRegister) -> None:
        d = r.decl
        values = [r.read_logical()]
        for _ in range(VOLATILE_READS - 1):
            time.sleep(VOLATILE_GAP)
            values.append(r.read_logical())
        if len(set(values)) > 1:
            self.add(
                r,
                "volatile",
                Verdict.INFO,
                f"changes on its own: {hex_of(values[0], d.width)} -> {hex_of(values[-1], d.width)}",
                observed=values[-1],
            )
        else:
            self.add(
                r,
                "volatile",
                Verdict.INFO,
                f"did not change over {VOLATILE_READS} reads (stopped?); not written",
                observed=values[-1],
            )

    def write_only(self, r: BoundRegister) -> None:
        d = r.decl
        if not self.destructive:
            self.add(
                r, "writes", Verdict.SKIPPED, "write-only: writing is destructive (pass destructive=True)"
            )
            return
        value = d.reset or 0
        r.write_logical(value)
        self.add(r, "writes", Verdict.INFO, f"wrote {hex_of(value, d.width)} (write-only, not read back)")

    def read_to_clear(self, r: BoundRegister) -> None:
        d = r.decl
        if not self.destructive:
            self.add(
                r, "read-to-clear", Verdict.SKIPPED, "reading is destructive (pass destructive=True)"
            )
            return
        first = self.initial.get(r.path, 0)
        if not first & d.rc_mask and d.trigger is not None:
            first = self._triggered(r, d.rc_mask)
        if not first & d.rc_mask:
            self.add(
                r,
                "read-to-clear",
                Verdict.SKIPPED,
                "no bits set, clearing not observable (declare trigger=)",
                observed=first,
            )
            return
        second = r.read_logical()
        left = second & first & d.rc_mask
        if left:
            self.add(
                r,
                "read-to-clear",
                Verdict.DIFFER,
                f"bits {hex_of(left, d.width)} still set after a read",
                expected=second & ~(first & d.rc_mask),
                observed=second,
            )
        else:
            self.add(
                r,
                "read-to-clear",
                Verdict.AGREE,
                f"bits {hex_of(first & d.rc_mask, d.width)} cleared by reading",
                observed=second,
            )

    def _triggered(self, r: BoundRegister, mask: int) -> int:
        r.decl.trigger(self.regs)
        deadline = time.monotonic() + TRIGGER_TIMEOUT
        while True:
            value = r.read_logical()
            if value & mask or time.monotonic() > deadline:
                return value
            time.sleep(0.001)

    def patterns(self, r: BoundRegister) -> None:
        """Write bit patterns (never 1s into W1C/W1S/WO bits), read back, compare, restore."""
        d = r.decl
        full = d.shape.full
        res = d.reserved_mask
        destr = d.protect_mask
        testable = full & ~res & ~destr
        compare = full & ~d.wo_mask & ~res
        store = d.store_mask
        rb: Callable[[int], int] = d.readback or (lambda x: x)
        cur = r.read_logical()
        self.patterned.add(r.path)
        pats: list[int] = []
        for p in (
            testable,
            0,
            _pattern(0x55, d.width) & testable,
            _pattern(0xAA, d.width) & testable,
        ):
            if p not in pats:
                pats.append(p)
        rows = []
        for p in pats:
            w = p | (cur & res)
            r.write_logical(w)
            got = r.read_logical()
            exp = rb((w & store) | (cur & ~store)) & full
            rows.append((w, exp, got))
            if r.path in self.deferred_widths and got not in (0, full):
                self.deferred_widths.discard(r.path)
                self.probe_widths(r)
        self._restore(r, cur, rb, res, destr, compare)
        if r.path in self.deferred_widths:
            self.deferred_widths.discard(r.path)
            self.probe_widths(r)

        bad = [(w, e, g) for w, e, g in rows if (e ^ g) & compare]
        is_ro = not (store & testable)
        if testable == 0:
            what = "writing 0 left it unchanged"
        elif is_ro:
            what = "unchanged by writes"
        else:
            what = f"writable bits {hex_of(store & testable, d.width)} as declared"
        if len(rows) >= 2 and testable:
            declared = (rows[0][1] ^ rows[1][1]) & compare
            observed = (rows[0][2] ^ rows[1][2]) & compare
        else:
            declared = observed = 0
        if not bad:
            self.add(r, "writes", Verdict.AGREE, what, expected=declared or None, observed=observed or None)
            return
        notes = []
        extra = observed & ~declared
        missing = declared & ~observed
        if extra:
            notes.append(f"bits {hex_of(extra, d.width)} declared read-only took writes")
        if missing:
            notes.append(f"bits {hex_of(missing, d.width)} declared writable did not take writes")
        notes.append(
            "; ".join(
                f"wrote {hex_of(w, d.width)} expected {hex_of(e, d.width)} read {hex_of(g, d.width)}"
                for w, e, g in bad
            )
        )
        self.add(r, "writes", Verdict.DIFFER, "; ".join(notes), expected=declared, observed=observed)

    def _restore(
        self,
        r: BoundRegister,
        cur: int,
        rb: Callable[[int], int],
        res: int,
        destr: int,
        compare: int,
    ) -> None:
        d = r.decl
        target = cur
        try:
            if d.readback is not None and rb(rb(cur) & d.shape.full) & d.shape.full == cur:
                target = rb(cur) & d.shape.full
        except Exception:
            pass
        target = (target & ~destr & ~res) | (cur & res)
        r.write_logical(target)
        after = r.read_logical()
        if (after ^ cur) & compare:
            self.add(
                r,
                "restore",
                Verdict.INFO,
                f"could not restore: wrote {hex_of(target, d.width)}, reads "
                f"{hex_of(after, d.width)}, was {hex_of(cur, d.width)}",
            )

    def restore_all(self, bound: list[BoundRegister]) -> None:
        """Writing one register can change another (HPET: 32-bit mode truncates the comparator);
        put back every pattern-tested register that no longer holds its initial value."""
        for r in bound:
            d = r.decl
            if r.path not in self.patterned or r.path not in self.initial:
                continue
            was = self.initial[r.path]
            compare = d.shape.full & ~d.wo_mask & ~d.reserved_mask
            now = r.read_logical()
            if not (now ^ was) & compare:
                continue
            rb: Callable[[int], int] = d.readback or (lambda x: x)
            self._restore(r, was, rb, d.reserved_mask, d.protect_mask, compare)
            self.add(
                r,
                "restore",
                Verdict.INFO,
                f"changed to {hex_of(now, d.width)} by writes to other registers; "
                f"wrote back {hex_of(was, d.width)}",
                expected=was,
                observed=r.read_logical(),
            )

    def w1c(self, r: BoundRegister) -> None:
        d = r.decl
        if not self.destructive:
            self.add(r, "w1c", Verdict.SKIPPED, "writing 1s clears state (pass destructive=True)")
            return
        value = r.read_logical()
        if not value & d.w1c_mask and d.trigger is not None:
            value = self._triggered(r, d.w1c_mask)
        bits = value & d.w1c_mask
        if not bits:
            self.add(
                r,
                "w1c",
                Verdict.SKIPPED,
                "no W1C bits set, clearing not observable (declare trigger=)",
                observed=value,
            )
            return
        keep = value & ~d.protect_mask
        r.write_logical(keep)
        after0 = r.read_logical()
        r.write_logical(keep | bits)
        after1 = r.read_logical()
        notes = []
        if bits & ~after0:
            notes.append(f"writing 0 cleared bits {hex_of(bits & ~after0, d.width)}")
        if after1 & bits:
            notes.append(f"writing 1 left bits {hex_of(after1 & bits, d.width)} set")
        if notes:
            self.add(
                r, "w1c", Verdict.DIFFER, "; ".join(notes), expected=value & ~bits, observed=after1
            )
        else:
            self.add(
                r,
                "w1c",
                Verdict.AGREE,
                f"bits {hex_of(bits, d.width)} stayed on 0 and cleared on 1",
                expected=value & ~bits,
                observed=after1,
            )

    def w1s(self, r: BoundRegister) -> None:
        d = r.decl
        if not self.destructive:
            self.add(r, "w1s", Verdict.SKIPPED, "writing 1s sets state (pass destructive=True)")
            return
        value = r.read_logical()
        bits = d.w1s_mask & ~value
        if not bits:
            self.add(r, "w1s", Verdict.SKIPPED, "all W1S bits already set", observed=value)
            return
        r.write_logical((value & ~d.protect_mask) | bits)
        after = r.read_logical()
        if bits & ~after:
            self.add(
                r,
                "w1s",
                Verdict.DIFFER,
                f"bits {hex_of(bits & ~after, d.width)} did not set",
                expected=value | bits,
                observed=after,
            )
        else:
            self.add(
                r,
                "w1s",
                Verdict.AGREE,
                f"bits {hex_of(bits, d.width)} set by writing 1",
                expected=value | bits,
                observed=after,
            )


def run_check(regs: RegisterBlock, *, destructive: bool = False) -> CheckReport:
    """Run the layout test of `regs` (bound to the device) and return the report."""
    checker = _Checker(regs, destructive)
    bound = regs.registers()
    for r in bound:
        checker.phase_reads(r)
    for r in bound:
        checker.phase_writes(r)
    checker.restore_all(bound)
    order = {r.path: i for i, r in enumerate(bound)}
    rank = {t: i for i, t in enumerate(TEST_ORDER)}
    checker.report.findings.sort(
        key=lambda f: (order.get(f.register, 0), rank.get(f.test, len(rank)))
    )
    return checker.report
