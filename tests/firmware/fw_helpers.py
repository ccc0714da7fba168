"""Helpers shared by tests/firmware: broken copies of the firmware, teardown checks."""

from __future__ import annotations

import subprocess
from pathlib import Path


def objcopy(src: Path, dst: Path, *args: str) -> Path:
    """A copy of `src` edited by binutils objcopy (strip a symbol, the DWARF, ...)."""
    subprocess.run(["objcopy", *args, str(src), str(dst)], check=True, timeout=30)
    return dst


def assert_torn_down(m) -> None:
    """QEMU reaped and the machine's temp dir removed."""
    assert m.process is not None and m.process.returncode is not None
    assert not m.alive
    assert m.tmpdir is None or not m.tmpdir.exists()
