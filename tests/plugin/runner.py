"""Run pytest on a throwaway project in a subprocess, as a user would (no asyncio config at all)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = 120


@dataclass
class Result:
    rc: int
    out: str

    def outcomes(self) -> dict[str, int]:
        """{"passed": 3, "failed": 1, ...} from pytest's final summary line."""
        last = [line for line in self.out.splitlines() if re.search(r"\d+ (passed|failed|error|skipped)", line)]
        if not last:
            return {}
        plural = {"errors": "error", "warnings": "warning"}
        return {plural.get(k, k): int(n) for n, k in re.findall(r"(\d+) (\w+)", last[-1])}


def write_project(root: Path, files: dict[str, str]) -> Path:
    """A bare project: the given files and nothing else (no pytest.ini, no pyproject)."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def run_pytest(root: Path, *args: str, path_env: str | None = None) -> Result:
    """`python -m pytest -p no:cacheprovider ARGS` in `root`, with PYTEST_* variables removed.

    CI and BUILD_NUMBER go too: pytest prints whole failure messages in its short summary
    when it sees them, so the inner run's output would differ between a desk and CI."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "PYTHONPATH")) and k not in ("CI", "BUILD_NUMBER")}
    if path_env is not None:
        env["PATH"] = path_env
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
        cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    return Result(proc.returncode, proc.stdout + proc.stderr)
