"""The README's layer picture is true: every import between driverkit's packages goes from a
layer to one below it (or beside it, on the same line). Pure logic: reads README.md and the
sources with ast, so the picture cannot drift from the code unnoticed."""

from __future__ import annotations

import re
from pathlib import Path

from imports_ast import module_imports

import driverkit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(driverkit.__file__).parent


def readme_layers(text: str) -> dict[str, int]:
    """Package name -> level (0 = top) from the README's "Layers, top to bottom" block."""
    block = text.split("Layers, top to bottom", 1)[1].split("```", 2)[1]
    levels: dict[str, int] = {}
    rows = [ln for ln in block.splitlines() if ln.strip() and not ln.startswith(" ")]
    for level, line in enumerate(rows):  # indented lines continue a description
        names = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        for name in names.split(","):
            levels[name.strip()] = level
    return levels


def _sources() -> list[tuple[str, Path, list[str]]]:
    """(layer, file, its package path) for every module of a layer: driverkit/* and devices/."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent)
        if len(rel.parts) > 2:  # driverkit/<layer>/...
            out.append((rel.parts[1], path, list(rel.parts[:-1])))
        elif rel.stem not in ("__init__", "__main__"):  # driverkit/<layer>.py
            out.append((rel.stem, path, ["driverkit"]))
    if not (PACKAGE / "devices").is_dir():  # editable: the drivers' source folder devices/
        for path in sorted((ROOT / "devices").glob("*.py")):
            out.append(("devices", path, ["driverkit", "devices"]))
    return out


def _shown(path: Path) -> Path:
    """`path` as the message shows it: from the checkout, or from site-packages if installed."""
    return path.relative_to(ROOT if path.is_relative_to(ROOT) else PACKAGE.parent)


def upward_imports(levels: dict[str, int]) -> list[str]:
    bad = []
    for layer, path, pkg in _sources():
        for line, mod in module_imports(path, pkg):
            parts = mod.split(".")
            if parts[0] != "driverkit" or len(parts) < 2 or parts[1] == layer:
                continue
            if layer not in levels or parts[1] not in levels:
                bad.append(f"{_shown(path)}: layer {layer!r} or {parts[1]!r} is not "
                           "in the README's picture")
            elif levels[parts[1]] < levels[layer]:
                bad.append(f"{_shown(path)}:{line} ({layer}) imports {mod}, "
                           "a layer above it")
    return bad


def test_every_package_is_in_the_picture_and_imports_go_down():
    levels = readme_layers((ROOT / "README.md").read_text())
    assert {"cli", "machine", "io", "transport", "mem", "errors"} <= set(levels)
    assert upward_imports(levels) == []


def test_the_check_sees_an_upward_import():
    levels = readme_layers((ROOT / "README.md").read_text())
    flipped = {k: -v for k, v in levels.items()}  # the picture upside down
    assert any("imports driverkit." in b for b in upward_imports(flipped))
