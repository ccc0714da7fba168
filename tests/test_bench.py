"""scripts/bench as a user runs it: figures found, JSON well formed, each ratio computed from
its own baseline of the same run (no speed is asserted here; speed is bench's business)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                          timeout=120)


def test_json_figures_carry_their_baseline_and_ratio():
    proc = _bench("--rounds", "2", "--scale", "0.01", "--json", "--only", "readl")
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)["figures"]
    assert [f["figure"] for f in figures] == ["readl.mmio_readl", "readl.ram_readl"]
    for f in figures:
        assert f["rounds"] == 2 and len(f["samples"]) == len(f["baseline_samples"]) == 2
        assert f["value"] > 0 and f["baseline"] > 0 and f["baseline_name"]
        ratios = [v / b for v, b in zip(f["samples"], f["baseline_samples"])]
        assert abs(f["ratio"] - statistics.median(ratios)) < 1e-3
    assert figures[0]["target"] == ">= 0.8" and isinstance(figures[0]["met"], bool)


def test_list_text_and_bad_arguments():
    listed = _bench("--list")
    assert listed.returncode == 0 and "readl.mmio_readl" in listed.stdout
    text = _bench("--rounds", "1", "--scale", "0.01", "--only", "readl.mmio_readl")
    assert text.returncode == 0, text.stderr
    assert "IoMem.readl (MMIO, HPET)" in text.stdout and "x  >= 0.8" in text.stdout
    unknown = _bench("--only", "nosuch")
    assert unknown.returncode == 2 and "unknown figure(s) nosuch" in unknown.stderr
    assert _bench("--rounds", "0").returncode == 2
