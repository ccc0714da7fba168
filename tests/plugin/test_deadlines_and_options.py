"""Deadlines hold for sync tests too, bad option values are usage errors at start, and an
artifact or recording that cannot be written never hides the test's own result (each as a
user's pytest run in a subprocess, with real QEMU)."""

from __future__ import annotations

import os
import time

import pytest

from .runner import run_pytest, write_project

SLEEPERS = '''
import os
import time

import pytest


@pytest.mark.machine(timeout=2)
def test_sync_sleeps(machine):
    open("pid-sync", "w").write(str(machine.process.pid))
    time.sleep(60)


@pytest.mark.machine(timeout=2)
async def test_async_blocks_the_loop(machine):
    open("pid-async", "w").write(str(machine.process.pid))
    time.sleep(60)  # blocks the event loop itself


@pytest.mark.machine(timeout=2, scope="module")
def test_shared_sync_sleeps(machine):
    time.sleep(60)


@pytest.mark.machine(scope="module")
def test_next_user_of_the_shared_machine(machine):
    assert machine.ioremap(0xFED00000, 0x400).readl(0) == 0x8086A201
'''


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["main", "xdist"])
def test_a_sync_test_fails_with_machine_timeout_at_its_deadline(tmp_path, xdist):
    write_project(tmp_path, {"test_sleep.py": SLEEPERS})
    t0 = time.monotonic()
    res = run_pytest(tmp_path, "-q", *xdist)
    took = time.monotonic() - t0
    assert res.outcomes() == {"failed": 3, "passed": 1}, res.out
    assert took < 40, f"three 60 s sleeps with 2 s deadlines took {took:.0f} s:\n{res.out}"
    assert ("MachineTimeout: timed out after 2 s waiting for the test, blocked in synchronous "
            "code at `time.sleep(60)` in test_sync_sleeps (test_sleep.py:11), to finish"
            ) in res.out
    assert ("blocked in synchronous code at `time.sleep(60)  # blocks the event loop itself` "
            "in test_async_blocks_the_loop (test_sleep.py:17)") in res.out
    assert res.out.count("driverkit killed the test's machine(s) at the deadline") == 3, res.out
    for name in ("pid-sync", "pid-async"):
        assert _gone(int((tmp_path / name).read_text())), f"{name}: QEMU still running"
    # the shared machine the plugin killed is replaced, and that is not blamed on anybody
    assert "MachineLeftUnusable" not in res.out


@pytest.mark.parametrize("option, value, reason", [
    ("--driverkit-replay", "{tmp}/nonexistent", "does not exist"),
    ("--driverkit-replay", "{tmp}/empty", "no recorded traces"),
    ("--driverkit-replay", "{tmp}/a-file", "is not a directory"),
    ("--driverkit-record", "{tmp}/a-file", "not a directory driverkit can write to"),
    ("--driverkit-record", "{tmp}/a-file/sub", "not a directory driverkit can write to"),
    ("--driverkit-artifacts", "{tmp}/a-file", "not a directory driverkit can write to"),
    ("--driverkit-artifacts", "/proc/driverkit-artifacts", "not a directory driverkit can"),
])
def test_unusable_option_dirs_are_usage_errors_at_start(tmp_path, option, value, reason):
    write_project(tmp_path, {"test_one.py": "def test_one(machine):\n    assert machine.alive\n"})
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("not a directory\n")
    value = value.format(tmp=tmp_path)
    res = run_pytest(tmp_path, "-q", option, value)
    assert res.rc == pytest.ExitCode.USAGE_ERROR, res.out
    assert f"ERROR: {option} {value}: {reason}" in res.out
    assert "INTERNALERROR" not in res.out and "passed" not in res.out


UNWRITABLE = '''
import os
import shutil


def in_the_way(path):
    """Put a file where the plugin wants a directory."""
    if os.path.isdir(path):
        shutil.rmtree(path)
    with open(path, "w") as f:
        f.write("in the way")


def test_its_artifact_folder_is_blocked_by_a_file(machine, request):
    root = request.config.getoption("--driverkit-artifacts")
    in_the_way(os.path.join(root, "test_unwritable.py__"
                                  "test_its_artifact_folder_is_blocked_by_a_file"))
    assert machine.ioremap(0xFED00000, 0x400).readl(0) == 0, "the test's own failure"


def test_the_artifacts_root_became_a_file(machine, request):
    in_the_way(request.config.getoption("--driverkit-artifacts"))
    assert machine.ioremap(0xFED00000, 0x400).readl(4) == 1, "the second test's own failure"


def test_passes_but_its_recording_cannot_be_written(machine, request):
    in_the_way(request.config.getoption("--driverkit-record"))
    assert machine.alive
'''


def test_artifacts_that_cannot_be_written_never_hide_the_failure(tmp_path):
    write_project(tmp_path, {"test_unwritable.py": UNWRITABLE})
    res = run_pytest(tmp_path, "-q", "-p", "no:randomly", "--driverkit-artifacts",
                     str(tmp_path / "art"), "--driverkit-record", str(tmp_path / "rec"))
    assert "INTERNALERROR" not in res.out, res.out
    assert res.rc == pytest.ExitCode.TESTS_FAILED, res.out
    assert res.outcomes() == {"failed": 2, "passed": 1}, res.out
    assert "AssertionError: the test's own failure" in res.out
    assert "AssertionError: the second test's own failure" in res.out
    assert res.out.count("artifacts: could not write") == 2, res.out
    assert ("test_unwritable.py::test_passes_but_its_recording_cannot_be_written: its trace "
            "could not be recorded") in res.out
