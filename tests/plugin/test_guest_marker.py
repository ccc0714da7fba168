"""@pytest.mark.machine(guest="linux") in a user's project: the guest boots once, every test
starts from its snapshot with `machine.shell`, and no test sees another's files or memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from driverkit.errors import ArtifactMissing
from driverkit.guest import linux_guest_spec

from .runner import run_pytest, write_project

GUEST_TESTS = '''
import json
import pytest
from driverkit.errors import GuestCommandFailed

pytestmark = pytest.mark.machine(guest="linux", machine="q35", memory="192M")
LOW = 0x9000


async def test_1_writes_a_file_and_memory(machine, tmp_path_factory):
    assert await machine.shell.run("uname -s") == "Linux\\n"
    await machine.shell.run("echo left-by-test-1 > /root/mark")
    before = machine.read_phys(LOW, 32)
    open("low-page.json", "w").write(json.dumps(before.hex()))
    machine.write_phys(LOW, b"\\x5a" * 32)
    assert machine.read_phys(LOW, 32) == b"\\x5a" * 32


async def test_2_sees_neither(machine):
    assert (await machine.shell.result("cat /root/mark")).status != 0
    before = bytes.fromhex(json.load(open("low-page.json")))
    assert machine.read_phys(LOW, 32) == before


async def test_3_failing_commands_raise(machine):
    with pytest.raises(GuestCommandFailed, match="status 3"):
        await machine.shell.run("sh -c 'exit 3'")


@pytest.mark.machine(guest="linux", append="quiet dk.extra=1")
async def test_4_another_spec_boots_its_own_guest(machine):
    assert "dk.extra=1" in await machine.shell.run("cat /proc/cmdline")
'''

BAD = '''
import pytest

@pytest.mark.machine(guest="windows")
def test_unknown_guest(machine):
    pass

@pytest.mark.machine(guest="linux", scope="module")
def test_shared_guest(machine):
    pass

@pytest.mark.machine(guest="linux", kernel="/boot/vmlinuz")
def test_own_kernel(machine):
    pass
'''


def test_guest_tests_start_from_one_snapshot_each_fresh(tmp_path):
    try:
        linux_guest_spec()
    except ArtifactMissing as exc:
        pytest.skip(f"Linux guest not built: {exc}")
    write_project(tmp_path, {"test_guest.py": GUEST_TESTS, "test_bad.py": BAD})
    before = set(Path("/dev/shm").glob("driverkit-snapshot-*"))
    res = run_pytest(tmp_path, "-q", "-p", "no:randomly")
    assert res.outcomes() == {"passed": 4, "error": 3}, res.out
    # two specs: two boots; the first served three tests
    assert "Linux guest q35 192M: booted and saved once" in res.out
    assert "3 test(s) started from the snapshot" in res.out
    assert "1 test(s) started from the snapshot" in res.out
    assert "guest='windows': known guests are 'linux'" in res.out
    assert "scope='module' does not apply to them" in res.out
    assert "guest='linux' decides kernel itself" in res.out
    left = set(Path("/dev/shm").glob("driverkit-snapshot-*")) - before
    assert not left, f"snapshot dirs left behind: {left}"
