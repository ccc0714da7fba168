"""The layers in DESIGN.md hold: the lower packages never import the machine layer (not even
under TYPE_CHECKING, for types) nor anything above them. Pure logic: reads the source with ast."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import driverkit

PACKAGE = Path(driverkit.__file__).parent
BASE = {"errors", "units", "results", "files"}  # shared leaves: errors, sizes, result types, bounded reads
ALLOWED = {  # driverkit.<key> may import driverkit.<value> (and itself)
    "transport": BASE,
    "mem": BASE,
    "elf": BASE | {"mem"},
    "io": BASE | {"mem", "transport"},
    "pci": BASE | {"mem", "transport", "io"},
    "regs": BASE | {"transport", "io"},
}


def _imports(path: Path, package: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in a module of the driverkit package."""
    rel = path.relative_to(package.parent).with_suffix("")
    pkg = list(rel.parts[:-1])  # the package the module lives in (for relative imports)
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)]
                out.append((node.lineno, ".".join(base + ([node.module] if node.module else []))))
            else:
                out.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return out


def _violations(layer: str, package: Path = PACKAGE) -> list[str]:
    bad = []
    for path in sorted((package / layer).rglob("*.py")):
        where = path.relative_to(package.parent)
        for line, mod in _imports(path, package):
            parts = mod.split(".")
            if parts[0] == "devices" or mod == "driverkit":
                bad.append(f"{where}:{line} imports {mod}")
            elif parts[0] == "driverkit":
                if parts[1] != layer and parts[1] not in ALLOWED[layer]:
                    bad.append(f"{where}:{line} imports {mod}")
    return bad


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_lower_layer_imports_only_below_it(layer):
    assert _violations(layer) == []


def test_the_check_sees_relative_and_type_checking_imports(tmp_path):
    # The walker must resolve `from ..machine.machine import Machine` inside an
    # `if TYPE_CHECKING:` block of driverkit/io/x.py to driverkit.machine.machine.
    src = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..machine.machine import M\n"
    (tmp_path / "driverkit" / "io").mkdir(parents=True)
    (tmp_path / "driverkit" / "io" / "x.py").write_text(src + "from . import iomem\n")
    assert _violations("io", tmp_path / "driverkit") == [
        "driverkit/io/x.py:3 imports driverkit.machine.machine"]
