"""Physical memory maps as SVG that put everything at its address.

One address axis cut at every boundary any column has (top-level /proc/iomem nodes, the holes
between them, the kernel image's parts, carve-outs, probes); each band's height grows with
log2 of its size (a broken log scale: a 4 KiB page and a 1 TiB hole both stay readable), and
every band starts with its address. A carve-out inside a 247M RAM band therefore gets bands
of its own at its own address. Colours say what a range is: RAM, kernel image, firmware
(BIOS/ROM/ACPI/e820 reserved), carve-out, hole (nothing), device/MMIO, probe.

memplan draws the model (render_svg); memcheck draws the model and the kernel side by side
and marks every band where they differ (render_compare).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .plan import MemPlan

KIND_COLORS = {
    "RAM": "#9fd89f",
    "kernel image": "#4f9fd8",
    "firmware": "#c8c8c8",
    "carve-out": "#ff8c8c",
    "hole": "#ffffff",
    "device/MMIO": "#e0d0f0",
    "RAM buffer": "#f5b971",
    "persistent memory": "#f2a7c8",
    "probe ok": "#7fd07f",
    "probe refused": "#e06a6a",
}
FIRMWARE = ("Reserved", "System ROM", "Video ROM", "Adapter ROM", "ACPI Tables",
            "ACPI Non-volatile Storage", "Unknown E820 type")
KERNEL = ("Kernel code", "Kernel rodata", "Kernel data", "Kernel bss")
TOP, LEFT, COL_W, GAP = 96, 150, 250, 18


@dataclass(frozen=True)
class Region:
    """One drawn range, [start, end] inclusive, with its label and kind (a KIND_COLORS key)."""

    start: int
    end: int
    label: str
    kind: str


def kind_of(name: str) -> str:
    if not name:
        return "hole"
    if name == "System RAM":
        return "RAM"
    if name in KERNEL:
        return "kernel image"
    if name.startswith(FIRMWARE):
        return "firmware"
    if name == "RAM buffer":
        return name
    if "Persistent Memory" in name:
        return "persistent memory"
    if name.lower().startswith(("crash kernel", "cma", "swiotlb")) or "window" in name:
        return "carve-out"
    return "device/MMIO"


def top_level(nodes: Iterable[Any]) -> list[Region]:
    """Top-level /proc/iomem nodes and the holes between them."""
    out, pos = [], 0
    for n in sorted(nodes, key=lambda n: n.start):
        if n.start > pos:
            out.append(Region(pos, n.start - 1, "", "hole"))
        out.append(Region(n.start, n.end, n.name, kind_of(n.name)))
        pos = max(pos, n.end + 1)
    return out


def kernel_image(nodes: Iterable[Any]) -> list[Region]:
    """The kernel image's parts (Kernel code/rodata/data/bss under System RAM)."""
    out = []
    for n in nodes:
        for c in n.children:
            if c.name in KERNEL:
                out.append(Region(c.start, c.end, c.name, "kernel image"))
    return out


def carveouts(items: Iterable[Any]) -> list[Region]:
    return [Region(c.start, c.start + c.size - 1, f"{c.name} {c.start:#x} +{_human(c.size)}",
                   "carve-out") for c in items if c.size > 0]


def _human(n: int) -> str:
    for suffix, shift in (("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift:
            v = n / (1 << shift)
            return f"{v:.0f}{suffix}" if abs(v - round(v)) < 0.005 else f"{v:.2f}{suffix}"
    return f"{n}B"


def _height(size: int) -> float:
    return max(15.0, 6.0 * math.log2(max(size, 1)) - 60.0)


class _Axis:
    """Bands between every boundary of every column, stacked top to bottom."""

    def __init__(self, columns: Sequence[Sequence[Region]]) -> None:
        cuts = {0}
        for col in columns:
            for r in col:
                cuts.update((r.start, r.end + 1))
        self.cuts = sorted(cuts)
        self.y = {self.cuts[0]: float(TOP)}
        y = float(TOP)
        for a, b in zip(self.cuts, self.cuts[1:]):
            y += _height(b - a)
            self.y[b] = y
        self.bottom = y

    def span(self, r: Region) -> tuple[float, float]:
        return self.y[r.start], self.y[r.end + 1]


def _legend(kinds: Iterable[str]) -> list[str]:
    out, x = [], 10
    for k in KIND_COLORS:
        if k not in kinds:
            continue
        out.append(f'<rect x="{x}" y="54" width="12" height="12" fill="{KIND_COLORS[k]}" '
                   'stroke="#333" stroke-width="0.5"/>')
        out.append(f'<text x="{x + 16}" y="64">{escape(k)}</text>')
        x += 24 + 7 * len(k)
    return out


def render(title: str, subtitle: str, columns: Sequence[tuple[str, Sequence[Region]]],
           marks: Sequence[tuple[int, int, str]] = ()) -> str:
    """Columns of regions on one address axis; `marks` (start, end, text) get a red bar."""
    axis = _Axis([c for _, c in columns])
    notes_x = LEFT + len(columns) * (COL_W + GAP)
    width = notes_x + (480 if marks else 40)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{int(axis.bottom) + 30}" font-family="monospace" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="20" font-size="14">{escape(title)}</text>',
           f'<text x="10" y="38" fill="#555">{escape(subtitle)}</text>']
    out += _legend({r.kind for _, col in columns for r in col})
    for addr in axis.cuts:
        out.append(f'<text x="{LEFT - 22}" y="{axis.y[addr] + 4:.1f}" text-anchor="end">'
                   f'{addr:#x}</text>')
        out.append(f'<line x1="{LEFT - 18}" x2="{width - 30}" y1="{axis.y[addr]:.1f}" '
                   f'y2="{axis.y[addr]:.1f}" stroke="#ddd" stroke-width="0.5"/>')
    for i, (head, regions) in enumerate(columns):
        x = LEFT + i * (COL_W + GAP)
        out.append(f'<text x="{x}" y="{TOP - 8}" font-weight="bold">{escape(head)}</text>')
        for r in regions:
            y0, y1 = axis.span(r)
            out.append(f'<rect x="{x}" y="{y0:.1f}" width="{COL_W}" height="{y1 - y0:.1f}" '
                       f'fill="{KIND_COLORS.get(r.kind, "#eee")}" stroke="#333" '
                       'stroke-width="0.5"/>')
            label = r.label or "hole"
            if r.kind not in ("carve-out",) and not label.endswith(")"):
                label += f" ({_human(r.end - r.start + 1)})"
            out.append(f'<text x="{x + 5}" y="{min(y0 + 12, y1 - 2):.1f}">{escape(label)}'
                       f'<title>{escape(label)} {r.start:#x}-{r.end:#x}</title></text>')
    for start, end, text in marks:
        y0, y1 = axis.y[start], axis.y[end + 1]
        x = LEFT - 16
        out.append(f'<rect x="{x}" y="{y0:.1f}" width="8" height="{y1 - y0:.1f}" fill="#d00"/>')
        out.append(f'<rect x="{notes_x - GAP + 4}" y="{y0:.1f}" width="6" '
                   f'height="{y1 - y0:.1f}" fill="#d00"/>')
        out.append(f'<text x="{notes_x}" y="{y0 + 12:.1f}" fill="#d00" '
                   f'font-weight="bold">{escape(text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def render_svg(p: "MemPlan") -> str:
    """memplan's picture: /proc/iomem, then the kernel image, carve-outs and probes."""
    nodes = p.iomem.children
    detail = kernel_image(nodes) + carveouts(p.state.carveouts)
    probes = [Region(pr.start, pr.start + pr.size - 1,
                     f"probe {pr.start:#x} +{_human(pr.size)}: ioremap {pr.ioremap}",
                     "probe ok" if pr.ioremap == "ok" else "probe refused") for pr in p.probes]
    columns = [("/proc/iomem (top level)", top_level(nodes)),
               ("kernel image, carve-outs", _lanes(detail))]
    if probes:
        columns.append(("probes", probes))
    return render(f"{p.machine} {_human(p.memory)}  cmdline: {p.cmdline.text or '(empty)'}",
                  f"model; broken log scale (band height ~ log2 size); "
                  f"Memory: .../{p.memory_total_kb}K", columns)


def _lanes(regions: list[Region]) -> list[Region]:
    """Regions sorted by address (overlaps, e.g. a carve-out over the kernel, are drawn in
    order; the later one is on top)."""
    return sorted(regions, key=lambda r: (r.start, -r.end))


def differences(model: Sequence[Region], kernel: Sequence[Region], *,
                by_label: bool = True, empty: str = "hole") -> list[tuple[int, int, str]]:
    """Address ranges where the two columns name (by_label) or classify memory differently."""
    def at(col: Sequence[Region], a: int) -> Region | None:
        for r in col:
            if r.start <= a <= r.end:
                return r
        return None

    cuts = sorted({r.start for r in (*model, *kernel)} | {r.end + 1 for r in (*model, *kernel)})
    marks: list[tuple[int, int, str]] = []
    for a, b in zip(cuts, cuts[1:]):
        m, k = at(model, a), at(kernel, a)
        ml = (m.label, m.kind) if m else ("", "hole")
        kl = (k.label, k.kind) if k else ("", "hole")
        if (ml if by_label else ml[1]) != (kl if by_label else kl[1]):
            text = f"differ: model {ml[0] or empty} / kernel {kl[0] or empty}"
            if marks and marks[-1][1] == a - 1 and marks[-1][2] == text:
                marks[-1] = (marks[-1][0], b - 1, text)
            else:
                marks.append((a, b - 1, text))
    return marks


def render_compare(title: str, model_nodes: Iterable[Any], model_carve: Iterable[Any],
                   kernel_nodes: Iterable[Any], kernel_carve: Iterable[Any]) -> str:
    """memcheck's picture: model and kernel side by side, differences marked in red."""
    model_nodes, kernel_nodes = list(model_nodes), list(kernel_nodes)
    mt, kt = top_level(model_nodes), top_level(kernel_nodes)
    mc = carveouts([c for c in model_carve if "window" not in c.name])
    kc = carveouts(kernel_carve)
    # carve-outs are compared by where they are: the model's "Crash kernel" is the kernel's
    # "crashkernel"
    marks = differences(mt, kt) + differences(mc, kc, by_label=False, empty="no carve-out")
    columns = [("model /proc/iomem", mt), ("kernel /proc/iomem", kt),
               ("model carve-outs + image", _lanes(kernel_image(model_nodes) + mc)),
               ("kernel carve-outs + image", _lanes(kernel_image(kernel_nodes) + kc))]
    sub = (f"{len(marks)} range(s) differ (red)" if marks else "model and kernel agree") + \
        "; broken log scale (band height ~ log2 size)"
    return render(title, sub, columns, marks)
