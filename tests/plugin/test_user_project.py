"""The plugin as a user meets it: a bare project, no asyncio config, pytest in a subprocess."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .runner import run_pytest, write_project

BASICS = '''
import asyncio
import pytest
import pytest_asyncio
from driverkit import Machine

HPET = 0xFED00000
pytestmark = pytest.mark.machine(memory="128M")          # module marker: applies to all


@pytest.mark.machine(devices=["edu"])
async def test_edu_id(machine):
    assert machine.spec.memory_bytes == 128 << 20          # merged with the module marker
    dev = machine.pci.find(vendor=0x1234, device=0x11E8)
    dev.enable()
    assert dev.iomap(0).readl(0) == 0x010000ED


def test_sync_test_gets_a_machine_too(machine):
    assert machine.ioremap(HPET, 0x400).readl(0) == 0x8086A201


@pytest.mark.machine(machine="pc")
class TestClassMarker:
    @pytest.mark.machine(memory="64M")
    async def test_function_marker_wins(self, machine):
        assert (machine.spec.machine, machine.spec.memory_bytes) == ("pc", 64 << 20)


@pytest_asyncio.fixture
async def hpet(machine):                                   # a user's fixture on top of `machine`
    yield machine.ioremap(HPET, 0x400)


async def test_indirect_use_through_a_user_fixture(hpet):
    await asyncio.sleep(0)
    assert hpet.readl(0) == 0x8086A201


async def test_factory_starts_several(machine_factory):
    a = await machine_factory()
    b = await machine_factory(machine="pc", memory="64M")
    assert (a.spec.machine, b.spec.machine) == ("q35", "pc")
    assert a.process.pid != b.process.pid
    assert a.tmpdir != b.tmpdir


def test_trace_records_accesses_in_order(machine):
    hpet = machine.ioremap(HPET, 0x400)
    hpet.readl(0)
    hpet.writeq(0x10, 0)
    hpet.readl(0x10)
    assert machine.trace.sequence(base=HPET) == [("read", 0, 0x8086A201), ("write", 0x10, 0),
                                                 ("read", 0x10, 0)]
    assert [e.width for e in machine.trace] == [4, 8, 4]
'''

SHARED = '''
import pytest

EDU = dict(vendor=0x1234, device=0x11E8)
pytestmark = pytest.mark.machine(devices=["edu"], scope="module")
PIDS = []


async def test_first_user_dirties_the_machine(machine):
    PIDS.append(machine.process.pid)
    dev = machine.pci.find(**EDU)
    dev.enable()
    bar = dev.iomap(0)
    bar.writel(0x04, 0x12345678)              # liveness register: reads back inverted
    assert bar.readl(0x04) == 0xEDCBA987
    assert dev.read_config(0x04, 2) & 0x2      # memory decoding on
    machine.ioremap(0xFED00000, 0x400).writeq(0x10, 1)   # HPET counter running
    machine.request_mem_region(0xFED00000, 0x400, "mine")


async def test_second_user_gets_it_reset(machine):
    PIDS.append(machine.process.pid)
    assert PIDS[0] == PIDS[1], "the same QEMU is shared"
    assert len(machine.trace) == 0 and machine.events == []
    assert "mine" not in machine.iomem()
    dev = machine.pci.find(**EDU)              # enumerated afresh
    assert dev.bars[0].address != 0            # assigned again by the framework
    assert not dev.read_config(0x04, 2) & 0x2  # system_reset turned memory decoding off
    assert machine.ioremap(0xFED00000, 0x400).readq(0x10) == 0   # HPET back to power-on
    dev.enable()
    assert dev.iomap(0).readl(0x04) == 0xEDCBA987   # edu has no reset handler: state stays
    machine.process.kill()                     # leave it unusable on purpose


async def test_third_user_gets_a_fresh_one(machine):
    PIDS.append(machine.process.pid)
    assert PIDS[2] != PIDS[1]
    assert machine.ioremap(0xFED00000, 0x400).readl(0) == 0x8086A201


@pytest.mark.machine(scope="session")
async def test_session_scope_shares_across_modules(machine):
    assert machine.alive
'''


def test_a_bare_project_needs_no_asyncio_config(tmp_path):
    write_project(tmp_path, {"test_basics.py": BASICS})
    res = run_pytest(tmp_path, "-q")
    assert res.outcomes() == {"passed": 6}, res.out
    assert "not natively supported" not in res.out


@pytest.mark.parametrize("ini", ["", "[pytest]\nasyncio_mode = auto\n"], ids=["strict", "auto"])
def test_shared_machine_is_reset_and_a_culprit_is_named(tmp_path, ini):
    write_project(tmp_path, {"test_shared.py": SHARED, "pytest.ini": ini or "[pytest]\n"})
    res = run_pytest(tmp_path, "-q")
    # the killer test passes its call phase but errors at teardown, named as the culprit
    assert res.outcomes() == {"passed": 4, "error": 1}, res.out
    assert "ERROR test_shared.py::test_second_user_gets_it_reset" in res.out
    assert ("MachineLeftUnusable: test_shared.py::test_second_user_gets_it_reset left the "
            "shared module-scoped machine") in res.out


FAILING = '''
import asyncio
import pytest

HPET = 0xFED00000


@pytest.mark.machine(devices=["edu"])
async def test_deliberately_fails(machine):
    machine.console  # serial log exists even if silent
    hpet = machine.ioremap(HPET, 0x400)
    hpet.writeq(0x10, 0)
    assert hpet.readl(0) == 0xDEADBEEF, "deliberate failure"


@pytest.mark.machine(timeout=0.5)
async def test_hangs_on_an_irq(machine):
    await machine.irq.wait_raised(7, timeout=60)


@pytest.mark.machine(timeout=0.5)
def test_blocks_in_sync_code(machine):
    hpet = machine.ioremap(HPET, 0x400)
    while True:                       # a register poll that never ends
        hpet.readl(0xF0)


def test_passes(machine):
    assert machine.alive
'''


def test_failure_artifacts_and_deadlines(tmp_path):
    write_project(tmp_path, {"test_failing.py": FAILING})
    art = tmp_path / "artifacts"
    res = run_pytest(tmp_path, "-q", "--driverkit-artifacts", str(art))
    assert res.outcomes() == {"failed": 3, "passed": 1}, res.out

    # a folder per failing test, none for the passing one
    folders = sorted(p.name for p in art.iterdir())
    assert folders == ["test_failing.py__test_blocks_in_sync_code",
                       "test_failing.py__test_deliberately_fails",
                       "test_failing.py__test_hangs_on_an_irq"]
    d = art / "test_failing.py__test_deliberately_fails"
    assert sorted(p.name for p in d.iterdir()) == sorted([
        "cmdline", "qemu.stderr", "serial.log", "qmp-events.jsonl", "mtree.txt", "iomem.txt",
        "trace.jsonl", "summary.txt"])
    cmdline = (d / "cmdline").read_text()
    assert "qemu-system-x86_64" in cmdline and "edu" in cmdline
    assert "hpet" in (d / "mtree.txt").read_text()
    assert "System RAM" in (d / "iomem.txt").read_text()
    lines = [json.loads(x) for x in (d / "trace.jsonl").read_text().splitlines()]
    assert lines[0]["meta"]["spec"]["devices"] == ["edu"]
    assert [(e["op"], e["addr"], e["width"]) for e in lines[1:]] == [
        ("write", 0xFED00010, 8), ("read", 0xFED00000, 4)]
    # the short summary sits in the failure report
    assert "driverkit artifacts" in res.out
    assert f"artifacts: {d}" in res.out
    assert "machine x86_64 q35 256M: running; trace 2 events (last: read mem 0xfed00000/4" in res.out

    # deadlines: say what was awaited, kill the machine
    assert ("MachineTimeout: timed out after 0.5 s waiting for "
            "`await machine.irq.wait_raised(7, timeout=60)` in test_hangs_on_an_irq") in res.out
    hang = (art / "test_failing.py__test_hangs_on_an_irq" / "summary.txt").read_text()
    assert "exited with status -9" in hang
    assert ("MachineTimeout: timed out after 0.5 s waiting for the test, blocked in synchronous "
            "code at `hpet.readl(0xF0)` in test_blocks_in_sync_code (test_failing.py:") in res.out
    blocked = (art / "test_failing.py__test_blocks_in_sync_code" / "summary.txt").read_text()
    assert "exited with status -9" in blocked

    # torn down on failure and on timeout: each machine's private dir is gone
    for folder in art.iterdir():
        argv = (folder / "cmdline").read_text().split()
        private = Path(argv[argv.index("-bios") + 1]).parent
        assert private.name.startswith("driverkit-") and not private.exists(), private


MATRIX = '''
import pytest


def test_default_allows_x86(machine):
    assert machine.spec.arch == "x86_64"
    assert machine.ioremap(0xFED00000, 0x400).readl(0) == 0x8086A201 or machine.spec.machine == "pc"


@pytest.mark.machine(machines=["q35", "virt"])
def test_allows_aarch64(machine):
    expected = {"q35": "x86_64", "virt": "aarch64"}[machine.spec.machine]
    assert machine.spec.arch == expected


@pytest.mark.machine(machine="pc")
def test_pinned(machine):
    assert machine.spec.machine == "pc"
'''


def test_machine_matrix_shows_in_test_ids(tmp_path):
    write_project(tmp_path, {"test_matrix.py": MATRIX})
    res = run_pytest(tmp_path, "-v", "--driverkit-machine", "q35,pc,virt")
    for nodeid, outcome in [
        ("test_default_allows_x86[q35]", "PASSED"), ("test_default_allows_x86[pc]", "PASSED"),
        ("test_allows_aarch64[q35]", "PASSED"), ("test_allows_aarch64[virt]", "PASSED"),
        ("test_pinned[pc]", "PASSED"),
    ]:
        assert f"test_matrix.py::{nodeid} {outcome}" in res.out, res.out
    assert "test_default_allows_x86[virt]" not in res.out
    assert res.outcomes() == {"passed": 5}, res.out
    bad = run_pytest(tmp_path, "-q", "--driverkit-machine", "q35,sparc")
    assert bad.rc != 0 and "unknown machine type(s) sparc" in bad.out


PARALLEL = '''
import pytest

@pytest.mark.parametrize("n", range(4))
async def test_many(machine, n):
    ram = machine.ioremap(0x100000, 0x1000)
    ram.writel(0, n)
    assert ram.readl(0) == n
    assert n != 3, "fails on purpose"
'''


def test_xdist_workers_keep_machines_apart(tmp_path):
    write_project(tmp_path, {"test_par.py": PARALLEL})
    art = tmp_path / "art"
    res = run_pytest(tmp_path, "-q", "-n", "2", "--driverkit-artifacts", str(art))
    assert res.outcomes() == {"failed": 1, "passed": 3}, res.out
    assert [p.name for p in art.iterdir()] == ["test_par.py__test_many[3]"]


def test_the_example_project_passes_as_a_user_would_run_it(tmp_path):
    example = Path(__file__).parents[2] / "examples" / "edu_from_scratch"
    shutil.copytree(example, tmp_path / "edu", ignore=shutil.ignore_patterns("__pycache__"))
    res = run_pytest(tmp_path / "edu", "-q", "--driverkit-machine", "q35,pc")
    assert res.outcomes() == {"passed": 12}, res.out
