"""The imports of a module, read with ast (no import runs): for the layer tests."""

from __future__ import annotations

import ast
from pathlib import Path


def module_imports(path: Path, pkg: list[str]) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in `path`, a module of package `pkg` (a list
    like ["driverkit", "io"]); relative imports are resolved, TYPE_CHECKING blocks included."""
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
