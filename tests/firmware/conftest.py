"""Fixtures for driverkit.firmware tests: the firmware, brought up to date once per session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from driverkit.cache import cache_dir
from driverkit.firmware import firmware_path

BUILD_SH = Path(__file__).resolve().parents[2] / "guest" / "firmware" / "build.sh"


@pytest.fixture(scope="session")
def fw_elf() -> Path:
    """fw.elf as guest/firmware/build.sh makes it: make rebuilds what changed (~20 ms when
    nothing did), so a test never runs a firmware older than its sources."""
    proc = subprocess.run([str(BUILD_SH), str(cache_dir())], capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"guest/firmware/build.sh failed ({proc.returncode}):\n{proc.stderr}")
    return firmware_path()
