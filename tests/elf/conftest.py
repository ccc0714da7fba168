"""Fixtures for the ELF tests: the firmware, built once per session into the driverkit cache."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from driverkit.cache import cache_dir
from driverkit.elf import ElfImage

REPO = Path(__file__).resolve().parents[2]
BUILD_SH = REPO / "guest" / "firmware" / "build.sh"


@pytest.fixture(scope="session")
def firmware_path() -> Path:
    """guest/firmware built with build.sh (idempotent: make rebuilds only what changed)."""
    proc = subprocess.run([str(BUILD_SH), str(cache_dir())], capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"guest/firmware/build.sh failed ({proc.returncode}):\n{proc.stderr}")
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def firmware(firmware_path: Path) -> ElfImage:
    return ElfImage.open(firmware_path)
