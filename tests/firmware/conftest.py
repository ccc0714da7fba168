"""Fixtures for driverkit.firmware tests: the firmware, built once per session if missing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from driverkit.errors import ArtifactMissing
from driverkit.firmware import firmware_path
from driverkit.guest.artifacts import cache_dir

BUILD_SH = Path(__file__).resolve().parents[2] / "guest" / "firmware" / "build.sh"


@pytest.fixture(scope="session")
def fw_elf() -> Path:
    """The built fw.elf; built with guest/firmware/build.sh if the cache lacks it."""
    try:
        return firmware_path()
    except ArtifactMissing:
        pass
    proc = subprocess.run([str(BUILD_SH), str(cache_dir())], capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"guest/firmware/build.sh failed ({proc.returncode}):\n{proc.stderr}")
    return firmware_path()
