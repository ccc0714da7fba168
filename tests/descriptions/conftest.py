"""Real vendor CMSIS-SVD files, fetched at test time from pyOCD's wheel on PyPI (never committed):
`pip download --no-deps pyocd`, then pyocd/debug/svd/svd_data.zip inside it. Kept in the
artifact cache (~/.cache/driverkit/svd, DRIVERKIT_CACHE overrides) so later runs are offline."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from cli_run import cli  # noqa: F401  (a fixture)

from driverkit.cache import cache_dir

WANTED = ("nrf51.svd", "STM32F41x.svd")
INNER = "pyocd/debug/svd/svd_data.zip"


def fetch_vendor_svds(dest: Path) -> None:
    """Download pyOCD's wheel (no dependencies) and unpack the SVD files we test on."""
    with tempfile.TemporaryDirectory(prefix="dk-pyocd-") as tmp:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary",
                            ":all:", "-q", "-d", tmp, "pyocd"],
                           capture_output=True, text=True, timeout=600)
        wheels = list(Path(tmp).glob("pyocd-*.whl"))
        if r.returncode or not wheels:
            raise RuntimeError(f"pip download pyocd failed ({r.returncode}): {r.stderr[-800:]}")
        with zipfile.ZipFile(wheels[0]) as whl:
            inner = Path(tmp) / "svd_data.zip"
            inner.write_bytes(whl.read(INNER))
        with zipfile.ZipFile(inner) as z:
            for name in WANTED:
                part = dest / (name + ".part")
                part.write_bytes(z.read(name))
                part.rename(dest / name)
        (dest / "SOURCE").write_text(f"{wheels[0].name} {INNER}\n")


@pytest.fixture(scope="session")
def vendor_svd() -> dict[str, Path]:
    dest = cache_dir() / "svd"
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / ".lock", "w") as lock:  # xdist workers fetch once between them
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all((dest / n).is_file() for n in WANTED):
            fetch_vendor_svds(dest)
    return {n: dest / n for n in WANTED}


@pytest.fixture(scope="session")
def edu_rdl() -> Path:
    from importlib.resources import files

    return Path(str(files("driverkit.devices") / "edu.rdl"))
