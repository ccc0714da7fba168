"""The artifact cache (guest kernel, initramfs, firmware): built by scripts, never in git."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$DRIVERKIT_CACHE, else ~/.cache/driverkit."""
    env = os.environ.get("DRIVERKIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "driverkit"
