"""`driverkit memplan` through the real CLI entry point (no QEMU needed)."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from driverkit.cli import main
from driverkit.mem.e820 import encode_fw_cfg_e820
from driverkit.mem.firmware import qemu_fw_cfg_e820


def test_json_contract(capsys):
    rc = main(
        [
            "memplan",
            "--machine",
            "pc",
            "--memory",
            "256M",
            "--cmdline",
            "mem=248M",
            "--probe",
            "0xF800000:8M",
            "--json",
        ]
    )
    assert rc == 0
    obj = json.loads(capsys.readouterr().out)
    assert set(obj) == {"iomem", "memory_total_kb", "carveouts", "limits", "probes", "kernel"}
    assert obj["memory_total_kb"] == 253560
    names = [(n["start"], n["end"], n["name"]) for n in obj["iomem"]]
    assert (0xF800000, 0xFFDFFFF, "RAM buffer") in names
    assert all(set(n) == {"start", "end", "name", "children"} for n in obj["iomem"])
    assert obj["carveouts"] == [{"name": "mem=248M window", "start": 0xF800000, "size": 0x7E0000}]
    assert {"gfp_max_order", "kmalloc_max", "dma_coherent_max"} <= set(obj["limits"])
    pr = obj["probes"][0]
    assert (pr["start"], pr["size"], pr["ioremap"], pr["memremap"]) == (
        0xF800000,
        8 << 20,
        "fail",
        "ok",
    )
    assert "PAT conflict" in pr["reason"]
    assert (pr["request_mem_region"], pr["devmem_mmap"], pr["ram"]) == ("fail", "EPERM", "none")
    assert obj["limits"]["vmalloc_max"] > 100 << 20


def test_text_svg_and_iomem(tmp_path, capsys):
    svg = tmp_path / "map.svg"
    assert (
        main(
            [
                "memplan",
                "--machine",
                "q35",
                "--memory",
                "5G",
                "--cmdline",
                "crashkernel=256M",
                "--svg",
                str(svg),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    # the CLI models driverkit's -nodefaults machines; --qemu-defaults a plain QEMU (measured)
    assert "Crash kernel" in out and "swiotlb" in out and "Memory: .../5242360K" in out
    root = ET.fromstring(svg.read_text())
    assert root.tag.endswith("svg") and "Crash kernel" in svg.read_text()
    assert (
        main(["memplan", "--machine", "q35", "--memory", "256M", "--qemu-defaults", "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["memory_total_kb"] == 261620
    assert main(["memplan", "--machine", "pc", "--iomem"]) == 0
    assert capsys.readouterr().out.startswith(
        "00000000-00000fff : Reserved\n00001000-0009fbff : System RAM\n"
    )


def test_real_map_from_fw_cfg_bytes(tmp_path, capsys):
    raw = tmp_path / "e820.bin"
    raw.write_bytes(encode_fw_cfg_e820(qemu_fw_cfg_e820("pc", 256 << 20)))
    assert main(["memplan", "--machine", "pc", "--e820", str(raw), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["memory_total_kb"] == 261624


def test_errors_exit_2_and_name_the_parameter(capsys):
    assert main(["memplan", "--machine", "pc", "--cmdline", "memmap=8Mx248M"]) == 2
    err = capsys.readouterr().err
    assert "memmap=8Mx248M: unknown separator 'x'" in err
    assert main(["memplan", "--machine", "pc", "--cmdline", "memmap=8Mx248M", "--lenient"]) == 0
    assert "treats it as mem=8M" in capsys.readouterr().out
    assert main(["memplan", "--machine", "q35", "--arch", "aarch64"]) == 2
    capsys.readouterr()
    assert main(["memplan", "--probe", "zz:4K"]) == 2  # was a ValueError traceback
    assert "probe 'zz:4K' is not START:SIZE: start 'zz' is not a number" in capsys.readouterr().err
    assert main(["memplan", "--probe", "0x1000:0"]) == 2
    assert "start=0x1000 size=0x0 is empty" in capsys.readouterr().err


def test_console_script():
    exe = Path(sys.executable).with_name("driverkit")
    r = subprocess.run(
        [str(exe), "memplan", "--machine", "pc", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["memory_total_kb"] == 261624


def test_kernel_option_names_the_build_or_the_bad_file(tmp_path, capsys):
    bad = tmp_path / "vmlinuz-bad"
    bad.write_bytes(b"\x7fELF" + bytes(60))
    assert main(["memplan", "--kernel", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: not a kernel image" in err and "expected an x86 bzImage" in err
    assert main(["memplan", "--memory", "256M"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].startswith("kernel: Linux ")  # says which build it models
