"""The command line, run as a user runs it (a subprocess), against real QEMU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def driverkit(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("driverkit")  # the console script, as users run it
    return subprocess.run([str(exe), *args],
                          capture_output=True, text=True, timeout=60)


def test_peek_hpet_default_machine():
    r = driverkit("peek", "0xfed00000", "--width", "32")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "0x8086A201\n"  # busybox devmem: upper case, zero-padded


def test_poke_then_read_back_json():
    r = driverkit("poke", "0x2000", "0xbeef", "--width", "16", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["value"] == 0xBEEF and out["written"] == 0xBEEF and out["backing"] == "RAM"


def test_peek_errors_are_clear_and_exit_2():
    r = driverkit("peek", "0x50000000")
    assert r.returncode == 2 and "nothing backs 0x50000000" in r.stderr
    r = driverkit("peek", "0xfed00000", "--width", "12")
    assert r.returncode == 2 and "width '12' is not one of 8, 16, 32, 64" in r.stderr
    r = driverkit("poke", "0x2000", "0x1ff", "--width", "8")
    assert r.returncode == 2 and "does not fit in 8 bits" in r.stderr
    r = driverkit("peek", "0xfed00002", "--width", "32")
    assert r.returncode == 2 and "aligned" in r.stderr


def test_probe_lists_edu_with_assigned_bar():
    r = driverkit("probe", "--device", "edu", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    edu = [d for d in info["pci"] if (d["vendor"], d["device"]) == (0x1234, 0x11E8)]
    assert edu and edu[0]["bars"][0]["address"] and edu[0]["bars"][0]["size"] == 1 << 20
    assert any(r["name"] == "hpet" for r in info["memory_map"])
