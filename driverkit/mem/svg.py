"""Draw a MemPlan's physical memory map as SVG: top-level /proc/iomem nodes and the gaps
between them, one band each, on a broken log scale (band height grows with log2(size), so a
4 KiB page and a 1 TiB hole both stay readable); carve-outs and probes are drawn in a
second column at the addresses they cover.
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .plan import MemPlan

COLORS = {
    "System RAM": "#9fd89f",
    "Reserved": "#c8c8c8",
    "RAM buffer": "#f5b971",
    "PCI Bus 0000:00": "#b9d7f0",
    "Persistent Memory (legacy)": "#f2a7c8",
    "Persistent Memory": "#f2a7c8",
    "ACPI Tables": "#f3e38c",
    "ACPI Non-volatile Storage": "#f3e38c",
}
TOP = 60
X_MAP, W_MAP = 170, 260
X_CO, W_CO = 450, 150


def _human(n: int) -> str:
    for suffix, shift in (("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift:
            v = n / (1 << shift)
            return f"{v:.0f}{suffix}" if abs(v - round(v)) < 0.005 else f"{v:.2f}{suffix}"
    return f"{n}B"


def _height(size: int) -> float:
    return max(16.0, 7.0 * math.log2(max(size, 1)) - 70.0)


def render_svg(p: "MemPlan") -> str:
    bands: list[tuple[int, int, str]] = []  # start, end (incl), name
    pos = 0
    top = max((c.end for c in p.iomem.children), default=0)
    for c in p.iomem.children:
        if c.start > pos:
            bands.append((pos, c.start - 1, ""))
        bands.append((c.start, c.end, c.name))
        pos = c.end + 1
    if pos <= top:
        bands.append((pos, top, ""))
    y = float(TOP)
    placed = []
    for s, e, name in bands:
        h = _height(e - s + 1)
        placed.append((s, e, name, y, h))
        y += h
    total_h = y + 40

    def y_of(addr: int) -> float:
        for s, e, _, by, bh in placed:
            if s <= addr <= e + 1:
                return by + bh * (addr - s) / (e - s + 1)
        return placed[-1][3] + placed[-1][4]

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{X_CO + W_CO + 260}" '
        f'height="{int(total_h)}" font-family="monospace" font-size="11">',
        f'<text x="10" y="20" font-size="14">{escape(p.machine)} {_human(p.memory)} '
        f"cmdline: {escape(p.cmdline.text or '(empty)')}</text>",
        f'<text x="10" y="38" fill="#555">broken log scale: band height ~ log2(size); '
        f"Memory: .../{p.memory_total_kb}K</text>",
    ]
    for s, e, name, by, bh in placed:
        color = COLORS.get(name, "#ffffff" if not name else "#e0d0f0")
        out.append(
            f'<rect x="{X_MAP}" y="{by:.1f}" width="{W_MAP}" height="{bh:.1f}" '
            f'fill="{color}" stroke="#333" stroke-width="0.5"/>'
        )
        out.append(f'<text x="{X_MAP - 6}" y="{by + 11:.1f}" text-anchor="end">{s:#x}</text>')
        label = escape(name or "(no resource)")
        out.append(
            f'<text x="{X_MAP + 6}" y="{by + min(bh / 2 + 4, bh - 3):.1f}">'
            f"{label} ({_human(e - s + 1)})</text>"
        )
    for c in p.state.carveouts:
        y0, y1 = y_of(c.start), y_of(c.start + c.size)
        out.append(
            f'<rect x="{X_CO}" y="{y0:.1f}" width="{W_CO}" height="{max(y1 - y0, 3):.1f}" '
            f'fill="#ff6b6b" fill-opacity="0.5" stroke="#c00"/>'
        )
        out.append(
            f'<text x="{X_CO + W_CO + 6}" y="{y0 + 11:.1f}" fill="#900">'
            f"{escape(c.name)} {c.start:#x} +{_human(c.size)}</text>"
        )
    for pr in p.probes:
        y0, y1 = y_of(pr.start), y_of(pr.start + pr.size)
        col = "#2a2" if pr.ioremap == "ok" else "#c22"
        out.append(
            f'<rect x="{X_MAP + W_MAP - 30}" y="{y0:.1f}" width="24" '
            f'height="{max(y1 - y0, 3):.1f}" fill="none" stroke="{col}" stroke-width="2"/>'
        )
        out.append(
            f'<text x="{X_MAP + W_MAP - 34}" y="{y0 + 11:.1f}" text-anchor="end" fill="{col}">'
            f"probe ioremap {pr.ioremap}</text>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
