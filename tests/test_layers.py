"""The layers in DESIGN.md hold: the lower packages never import the machine layer (not even
under TYPE_CHECKING, for types) nor anything above them. Pure logic: reads the source with ast."""

from __future__ import annotations

from pathlib import Path

import pytest
from imports_ast import module_imports

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


def _violations(layer: str, package: Path = PACKAGE) -> list[str]:
    bad = []
    for path in sorted((package / layer).rglob("*.py")):
        where = path.relative_to(package.parent)
        for line, mod in module_imports(path, list(path.relative_to(package.parent).parts[:-1])):
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
