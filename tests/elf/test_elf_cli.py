"""`driverkit elf FILE [--json]` on the built firmware and on a broken file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from driverkit.cli import main


def test_text_output(firmware_path: Path, capsys):
    assert main(["elf", str(firmware_path)]) == 0
    out = capsys.readouterr().out
    assert "EM_386" in out and "PT_LOAD segments:" in out
    line = next(ln for ln in out.splitlines() if ln.endswith(" carveout_base"))
    assert "object" in line and "global" in line and ".bss" in line


def test_json_output(firmware_path: Path, firmware, capsys):
    assert main(["elf", str(firmware_path), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["entry"] == firmware.entry and obj["class"] == 32
    assert [s["paddr"] for s in obj["segments"]] == [s.paddr for s in firmware.segments]
    syms = {s["name"]: s for s in obj["symbols"]}
    assert syms["carveout_base"]["address"] == firmware.symbols["carveout_base"].address
    assert syms["carveout_base"]["size"] == 8 and syms["fw_main"]["kind"] == "func"


def test_broken_file_exits_2_with_reason(tmp_path: Path):
    bad = tmp_path / "bad.elf"
    bad.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(9))
    proc = subprocess.run([sys.executable, "-c", "import sys; from driverkit.cli import main; sys.exit(main())",
                           "elf", str(bad), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    err = json.loads(proc.stdout)  # under --json the error is one object on stdout
    assert "truncated: 16 bytes, the ELF header alone needs 64" in err["error"]
    assert err["type"] == "ElfError" and proc.stderr == ""
