"""pytest-xdist with remote workers over ssh (scripts/xdist-ssh): a second host made on this
machine (an sshd of the script's own on 127.0.0.1); each worker runs under that sshd, with its
own QEMU, and the machine tests pass there."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .runner import write_project

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "xdist-ssh"

REMOTE = '''
import os

import pytest


@pytest.mark.parametrize("n", range(4))
def test_on_the_second_host_with_its_own_qemu(machine, worker_id, n):
    assert os.environ.get("SSH_CONNECTION", "").startswith("127.0.0.1 ")  # under our sshd
    stat = open(f"/proc/{machine.process.pid}/stat").read()
    assert int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid()          # this worker's QEMU
    assert machine.ioremap(0xFED00000, 0x400).readl(0) == 0x8086A201
    print(f"RAN {worker_id} qemu={machine.process.pid}")
'''


@pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(),
                    reason="openssh-server is not installed (scripts/xdist-ssh installs it as root)")
@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh client")
def test_remote_workers_over_ssh_run_machine_tests(tmp_path):
    write_project(tmp_path / "proj", {"test_remote.py": REMOTE})
    before = set(Path("/tmp").glob("driverkit-xdist-ssh.*"))
    env = {**os.environ, "DRIVERKIT_PYTHON": sys.executable}  # the driverkit under test
    proc = subprocess.run([str(SCRIPT), "-w", "2", str(tmp_path / "proj"), "-rA", "-q"],
                          capture_output=True, text=True, timeout=300, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert re.search(r"\b4 passed\b", out), out
    assert "2 remote workers over ssh" in out
    workers = set(re.findall(r"RAN (gw\d+) qemu=\d+", out))
    assert workers == {"gw0", "gw1"}, out           # both remote workers ran machine tests
    assert set(Path("/tmp").glob("driverkit-xdist-ssh.*")) <= before  # keys, sshd dir: gone
