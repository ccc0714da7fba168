"""What the register layout check found: one Finding per test of a register, gathered in a
CheckReport (`.ok`, `.mismatches`, `str()` = the table, `to_dict()`/`to_json()`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..results import JsonResult, Row, Verdict, overall, render_table


@dataclass(frozen=True, kw_only=True)
class Finding(Row[int]):
    """One test of one register, as a results.Row: the section is the register's path, the
    key the test; the values the declaration expects and the device showed, and the verdict
    (agree, differ, info, skipped). Where on the device: offset, width, access."""

    offset: int
    width: int
    access: str

    @property
    def register(self) -> str:
        """The register's path in its map (the row's section)."""
        return self.section

    @property
    def test(self) -> str:
        """Which test this is: reset, widths, writes, ... (the row's key)."""
        return self.key

    def to_dict(self, sides: tuple[str, str] = ("expected", "observed")) -> dict[str, Any]:
        return {"register": self.register, "offset": self.offset, "width": self.width,
                "access": self.access, "test": self.test, "verdict": self.verdict.value,
                "note": self.note, sides[0]: self.expected, sides[1]: self.observed}


@dataclass
class CheckReport(JsonResult):
    """Result of RegisterMap.check(): `.ok`, `.mismatches`, str() = table, `.to_json()`."""

    map: str
    target: str
    destructive: bool
    findings: list[Finding] = field(default_factory=list)

    @property
    def mismatches(self) -> list[Finding]:
        """The findings that differ from the declaration."""
        return [f for f in self.findings if f.verdict is Verdict.DIFFER]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def __bool__(self) -> bool:
        return self.ok

    def for_register(self, path: str) -> list[Finding]:
        return [f for f in self.findings if f.register == path]

    def to_dict(self) -> dict[str, Any]:
        return {
            "map": self.map,
            "target": self.target,
            "destructive": self.destructive,
            "ok": self.ok,
            "mismatches": len(self.mismatches),
            "verdict": self.verdict.value,
            "findings": [f.to_dict() for f in self.findings],
        }

    @property
    def verdict(self) -> Verdict:
        """AGREE when no finding differs, else DIFFER."""
        return overall(f.verdict for f in self.findings)

    def __str__(self) -> str:
        mode = "destructive" if self.destructive else "non-destructive"
        n, counted = len(self.mismatches), sum(f.verdict.counted for f in self.findings)
        head = f"{self.map} layout check on {self.target} ({mode}): " + (
            "agree" if n == 0 else f"DIFFER ({n} of {counted} counted findings differ)"
        )
        heads = ("register", "offset", "access", "test", "verdict", "expected", "observed", "note")
        cells = [(f.register, f"{f.offset:#05x}", f.access, f.test, f.verdict.shown,
                  opt_hex(f.expected, f.width), opt_hex(f.observed, f.width), f.note)
                 for f in self.findings]
        return "\n".join([head, *render_table(heads, cells)])


def hex_of(v: int, width: int) -> str:
    """`v` in hex, zero-padded to the register's width in bytes."""
    return f"0x{v:0{width * 2}x}"


def opt_hex(v: int | None, width: int) -> str:
    """hex_of, or "" where there is no value."""
    return "" if v is None else hex_of(v, width)
