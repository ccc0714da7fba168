"""The commands driver people know, in their syntax and output, on one session's machine."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driverkit.cli.hexdump import hexdump_c


@pytest.fixture
def board(cli):
    """A q35 with two edu devices, as a session named "x"."""
    cli.json("start", "--name", "x", "--device", "edu", "--device", "edu")
    cli.env["DRIVERKIT_SESSION"] = "x"
    return cli


def test_lspci_as_pciutils_prints_it(board):
    lines = board("lspci").stdout.splitlines()
    assert lines[0] == "00:00.0 Host bridge: Intel Corporation 82G33/G31/P35/P31 Express DRAM Controller"
    edus = [x for x in lines if "1234:11e8" in x]
    assert edus == [f"{b} Unclassified device [00ff]: Device 1234:11e8 (rev 10)"
                    for b in ("00:01.0", "00:02.0")]
    assert "00:01.0 00ff: 1234:11e8 (rev 10)" in board("lspci", "-n").stdout.splitlines()
    v = board("lspci", "-v", "-s", "1.0").stdout.splitlines()
    assert v[1] == "\tSubsystem: Red Hat, Inc. Device 1100"
    assert v[2].startswith("\tFlags: fast devsel, IRQ ")
    assert v[3].startswith("\tMemory at ") and v[3].endswith("(32-bit, non-prefetchable) "
                                                              "[disabled] [size=1M]")
    assert v[4] == "\tCapabilities: [40] MSI: Enable- Count=1/1 Maskable- 64bit+"
    devs = board.json("lspci", "-v")["devices"]
    edu = [d for d in devs if d["device"] == 0x11E8][0]
    assert edu["class_name"] == "Unclassified device [00ff]" and edu["irq"] >= 16


def test_setpci_reads_writes_and_masks(board):
    r = board("setpci", "-s", "00:01.0", "VENDOR_ID", "DEVICE_ID", "3d.b")
    assert r.stdout.split() == ["1234", "11e8", "01"], r.stderr
    assert board("setpci", "-s", "1.0", "COMMAND=0002").returncode == 0
    assert board("setpci", "-s", "1.0", "04.w").stdout == "0002\n"
    assert board("setpci", "-s", "1.0", "COMMAND=4:4").returncode == 0  # only bus master
    assert board("setpci", "-s", "1.0", "COMMAND").stdout == "0006\n"
    assert "[disabled]" not in board("lspci", "-v", "-s", "1.0").stdout
    err = board.json("setpci", "-s", "1.0", "COMMAND=10000", rc=2)
    assert "does not fit in 16 bits" in err["error"]
    err = board.json("setpci", "-s", "1.0", "41", rc=2)
    assert "needs a width" in err["error"]
    err = board.json("setpci", "-d", "1234:11e8", "COMMAND", rc=2)
    assert "matches 2 functions" in err["error"]
    # capability-relative registers: MSI message control at CAP_MSI+2
    assert board("setpci", "-s", "1.0", "CAP_MSI+2.w").stdout == "0080\n"  # 64-bit, 1 vector
    err = board.json("setpci", "-s", "1.0", "CAP_EXP+2.w", rc=2)
    assert "has no capability 0x10 (capabilities: MSI [40])" in err["error"]
    err = board.json("lspci", "-s", "7.0", rc=2)
    assert "no PCI function at 00:07.0" in err["error"]


def test_devmem_forms_padding_and_readback(board):
    assert board("poke", "0x2000", "h", "0xbe").stdout == "wrote 0x00BE, read back 0x00BE\n"
    assert board("peek", "0x2000", "b").stdout == "0xBE\n"
    assert board("peek", "0x2000", "16").stdout == "0x00BE\n"
    assert board("peek", "0x2000", "l").stdout == "0x00000000000000BE\n"  # busybox: l = 64
    # a register that reads back differently: the HPET capabilities are read-only
    r = board("poke", "0xfed00000", "0x1")
    assert r.returncode == 0 and "read back 0x8086A201" in r.stdout
    assert "warning: read back 0x8086A201 at 0xfed00000, not the 0x00000001 written" in r.stderr
    out = board.json("poke", "0xfed00000", "0x1")
    assert out["readback_matches"] is False and out["warnings"]
    err = board.json("poke", "0xfed00000", "0x1", "--verify", rc=2)
    assert err["type"] == "ReadbackMismatch"


def test_width_qemu_drops_is_reported_not_printed_as_a_value(board):
    r = board("peek", "0xfed00000", "--width", "16")  # by default an error: no value printed
    assert r.returncode == 2 and r.stdout == "", r
    assert "QEMU did not perform the access" in r.stderr
    assert "16-bit read at offset 0x0 of region 'hpet': invalid size" in r.stderr
    err = board.json("peek", "0xfed00000", "8", rc=2)
    assert err["type"] == "InvalidWidth"
    r = board("peek", "0xfed00000", "--width", "16", "--invalid-width", "warn")
    assert r.returncode == 0 and r.stdout == "0x0000\n" and "did not perform" in r.stderr
    out = board.json("peek", "0xfed00000", "h", "--invalid-width", "warn")
    assert out["valid"] is False and "invalid size" in " ".join(out["warnings"])
    ok = board.json("peek", "0xfed00000", "w")  # 32-bit is what HPET takes: no warning
    assert ok["valid"] is True and "warnings" not in ok and ok["value"] == 0x8086A201


def test_dump_is_hexdump_c(board):
    assert board("poke", "0x4000", "l", "0x6f6c6c6568").returncode == 0  # "hello"
    r = board("dump", "0x4000", "48")
    assert r.stdout.splitlines() == [
        "00004000  68 65 6c 6c 6f 00 00 00  00 00 00 00 00 00 00 00  |hello...........|",
        "00004010  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|",
        "*",
        "00004030",
    ]
    assert board.json("dump", "0xfed00000", "8")["hex"] == "01a2868080969800"
    err = board.json("dump", "0x50000000", "16", rc=2)
    assert "nothing backs" in err["error"]


def test_regs_refuses_an_ambiguous_device_and_picks_by_bdf_or_index(board):
    err = board.json("regs", "edu", rc=2)
    assert "2 1234:11e8 devices match ([0] 00:01.0, [1] 00:02.0)" in err["error"]
    assert board.json("regs", "edu", "--index", "1")["info"]["pci"] == "00:02.0"
    assert board.json("regs", "edu", "--bdf", "00:01.0")["info"]["pci"] == "00:01.0"
    assert board.json("check", "edu", "--bdf", "2.0")["ok"] is True
    err = board.json("regs", "edu", "--index", "2", rc=2)
    assert "no 1234:11e8 device number 2" in err["error"]


def test_port_io_and_version(cli):
    r = cli("outb", "0x70", "0x41")
    assert r.returncode == 0 and r.stdout == ""
    assert cli("inw", "0x10000").returncode == 2
    v = cli("--version")
    assert v.returncode == 0 and v.stdout.startswith("driverkit ")


def test_bash_completion_script_completes_commands_and_choices(cli, tmp_path):
    script = tmp_path / "c.sh"
    script.write_text(cli("completion", "bash").stdout)
    probe = (f"source {script}; COMP_WORDS=(driverkit se); COMP_CWORD=1; _driverkit; "
             'echo "${COMPREPLY[@]}"; COMP_WORDS=(driverkit peek --invalid-width ""); '
             'COMP_CWORD=3; _driverkit; echo "${COMPREPLY[@]}"')
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    assert out.stdout.splitlines() == ["sessions setpci", "warn error"], out.stderr


def test_elf_of_a_device_node_is_refused_at_once(cli):
    t = time.monotonic()
    err = cli.json("elf", "/dev/zero", rc=2)
    assert "not a regular file" in err["error"] and time.monotonic() - t < 10


def test_closed_pipe_is_a_quiet_exit(cli):
    p = subprocess.Popen([cli.exe, "memplan", "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=cli.env)
    p.stdout.close()  # the reader is gone before the first byte, as with `| head -c0`
    _, err = p.communicate(timeout=60)
    assert p.returncode == 141 and b"Traceback" not in err and b"BrokenPipe" not in err


@pytest.mark.skipif(shutil.which("hexdump") is None, reason="hexdump (bsdextrautils) not installed")
@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=80).map(lambda b: b + b"\0" * (b[0] % 40 if b else 0)))
def test_hexdump_c_matches_the_real_tool(data):
    real = subprocess.run(["hexdump", "-C"], input=data, capture_output=True, timeout=10).stdout
    expect = real.decode().rstrip("\n") if data else ""
    got = hexdump_c(data) if data else ""
    assert got == expect
