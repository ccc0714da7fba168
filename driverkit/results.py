"""How results are told, the same way everywhere: `to_dict()` and `to_json()`.

One meaning across driverkit: `to_dict()` returns plain JSON-ready data (dicts, lists, str,
int, float, bool, None) and `to_json()` returns that data as JSON text. Every value type has
`to_dict()`; the top-level results a user prints or saves (a memory plan, a memcheck, a
register layout check, the demo's result) also have `to_json()`, through `JsonResult`.
"""

from __future__ import annotations

import json
from typing import Any


class JsonResult:
    """Mixin: `to_json()` is `to_dict()` as JSON text (the CLI's --json prints the same data)."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} must define to_dict()")

    def to_json(self, indent: int | None = 2) -> str:
        """`to_dict()` as JSON text, indented by `indent` spaces (None: one line)."""
        return json.dumps(self.to_dict(), indent=indent)
