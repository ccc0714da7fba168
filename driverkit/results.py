"""How results are told, the same way everywhere: verdicts, rows, one table, to_dict/to_json.

A check compares what a description claims (the allocator model, a register declaration,
an article) with what the live system shows (the kernel, the device, a measurement).
Every such comparison in driverkit uses the same words (`Verdict`), the same row (`Row`:
one claim next to one observation) and the same text table (`render_table`).

One meaning for serialising: `to_dict()` returns plain JSON-ready data (dicts, lists, str,
int, float, bool, None) and `to_json()` returns that data as JSON text. Every value type
has `to_dict()`; the top-level results a user prints or saves also have `to_json()`,
through `JsonResult`.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class Verdict(StrEnum):
    """What one comparison found. AGREE/PARTLY/DIFFER are counted; INFO/SKIPPED are not."""

    AGREE = "agree"  # the observation is what was claimed
    PARTLY = "partly"  # part of the claim holds (the note says which)
    DIFFER = "differ"  # the observation contradicts the claim
    INFO = "info"  # shown for context, nothing was claimed or it cannot be judged
    SKIPPED = "skipped"  # not tested (destructive, unobservable); the note says why

    @property
    def counted(self) -> bool:
        """Whether the verdict takes part in a report's overall verdict."""
        return self in (Verdict.AGREE, Verdict.PARTLY, Verdict.DIFFER)

    @property
    def shown(self) -> str:
        """The word in text tables: a difference in capitals, so it stands out."""
        return self.value.upper() if self is Verdict.DIFFER else self.value

    @classmethod
    def of(cls, same: bool) -> Verdict:
        """AGREE if the two sides are the same, else DIFFER."""
        return cls.AGREE if same else cls.DIFFER


@dataclass(frozen=True)
class Row(Generic[V]):
    """One claim next to one observation, and the verdict.

    `expected`/`observed` (text in memcheck and the demo, integers in the register check)
    are None where that side has nothing to say; `section` groups rows (memcheck's "iomem",
    "limits", ...; the register check's register), `key` names the row within it.
    """

    section: str
    key: str
    expected: V | None
    observed: V | None
    verdict: Verdict
    note: str = ""

    @property
    def counted(self) -> bool:
        return self.verdict.counted

    def to_dict(self, sides: tuple[str, str] = ("expected", "observed")) -> dict[str, Any]:
        """JSON-ready; `sides` names the two sides as the report's table heads them."""
        return {"section": self.section, "key": self.key, sides[0]: self.expected,
                sides[1]: self.observed, "verdict": self.verdict.value,
                "counted": self.counted, "note": self.note}


def overall(verdicts: Iterable[Verdict]) -> Verdict:
    """A report's verdict: DIFFER if any differs, else PARTLY if any is partly so, else AGREE
    (INFO and SKIPPED do not count)."""
    seen = set(verdicts)
    for v in (Verdict.DIFFER, Verdict.PARTLY):
        if v in seen:
            return v
    return Verdict.AGREE


def render_table(heads: Sequence[str], cells: Sequence[Sequence[str]], *,
                 notes: Sequence[str] | None = None, keys: Sequence[str] | None = None,
                 indent: str = "", max_cell: int | None = None, wrap: int = 100) -> list[str]:
    """Aligned text columns (the last one unpadded) under a heading line.

    `notes[i]`, if given and not empty, is wrapped to `wrap` columns under row i. A row with
    a cell longer than `max_cell` is printed as a block instead, so one long line does not
    widen the whole table: `keys[i]` (or the first cell), then `heading: value` lines.
    """
    def fits(row: Sequence[str]) -> bool:
        return max_cell is None or all(len(c) <= max_cell for c in row)

    aligned = [list(heads)] + [list(r) for r in cells if fits(r)]
    widths = [max(len(r[i]) for r in aligned) for i in range(len(heads) - 1)]

    def line(row: Sequence[str]) -> str:
        padded = [c.ljust(w) for c, w in zip(row, widths)] + [row[-1]]
        return (indent + "  ".join(padded)).rstrip()

    out = [line(heads)]
    for i, row in enumerate(cells):
        if fits(row):
            out.append(line(row))
        else:
            first = 0 if keys else 1
            out.append(f"{indent}{keys[i] if keys else row[0]}")
            out += [f"{indent}  {h}: {c}" for h, c in zip(heads[first:], row[first:])]
        note = notes[i] if notes else ""
        if note:
            out += textwrap.wrap(note, wrap, initial_indent=indent + "    ",
                                 subsequent_indent=indent + "    ")
    return out


class JsonResult:
    """Mixin: `to_json()` is `to_dict()` as JSON text (the CLI's --json prints the same data)."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must define to_dict()")

    def to_json(self, indent: int | None = 2) -> str:
        """`to_dict()` as JSON text, indented by `indent` spaces (None: one line)."""
        return json.dumps(self.to_dict(), indent=indent)
