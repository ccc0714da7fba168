"""MMIO traces recorded on real QEMU, replayed without it (the replay transport is labelled REPLAY)."""

from __future__ import annotations

import os
import sys

import pytest

from driverkit.errors import ConfigError, ReplayDivergence, ReplayError
from driverkit.io.trace import Trace, TraceEvent
from driverkit.machine.replay import ReplayBus, ReplayMachine
from driverkit.transport.base import Bus

from .runner import run_pytest, write_project

HPET = 0xFED00000


def hpet_driver(m, start_value: int = 1) -> int:
    """A tiny HPET 'driver': read the capabilities, start the counter, read the config back."""
    regs = m.ioremap(HPET, 0x400)
    caps = regs.readq(0)
    regs.writeq(0x10, start_value)
    assert regs.readq(0x10) & 1 == start_value & 1
    regs.writeq(0x10, 0)
    return caps


def test_a_real_trace_replays_and_divergence_names_index_expected_actual(machine, tmp_path):
    caps = hpet_driver(machine)
    path = machine.trace.dump(tmp_path / "hpet.jsonl")
    assert [e.op for e in machine.trace] == ["read", "write", "read", "write"]

    replayed = ReplayMachine.load(path)
    assert hpet_driver(replayed) == caps               # reads are served from the recording
    replayed.finish()
    assert replayed.label == "replay"
    assert [e.op for e in replayed.trace] == ["read", "write", "read", "write"]

    with pytest.raises(ReplayDivergence) as info:
        hpet_driver(ReplayMachine.load(path), start_value=3)
    err = info.value
    assert err.index == 1
    assert err.expected == "write mem 0xfed00010/8 = 0x1"
    assert err.actual == "write mem 0xfed00010/8 = 0x3"
    assert "replay diverged at trace event #1" in str(err)


def test_a_driver_that_stops_early_or_reads_elsewhere_diverges(machine, tmp_path):
    hpet_driver(machine)
    path = machine.trace.dump(tmp_path / "t.jsonl")
    short = ReplayMachine.load(path)
    short.ioremap(HPET, 0x400).readq(0)
    with pytest.raises(ReplayDivergence, match=r"#1: expected write mem 0xfed00010/8 = 0x1, "
                                               r"the driver did nothing more \(3 recorded"):
        short.finish()
    elsewhere = ReplayMachine.load(path)
    with pytest.raises(ReplayDivergence) as info:
        elsewhere.ioremap(HPET, 0x400).readl(0xF0)
    assert (info.value.index, info.value.actual) == (0, "read mem 0xfed000f0/4")
    done = ReplayMachine.load(path)
    hpet_driver(done)
    with pytest.raises(ReplayDivergence, match="expected the end of the trace"):
        done.ioremap(HPET, 0x400).readq(0)


async def test_irq_changes_replay_in_order():
    t = Trace()
    rec = t.tracer("mem")
    rec("w", 0x1000, 4, 1)
    t.irq(3, True)
    rec("r", 0x1004, 4, 0x80)
    rm = ReplayMachine(Trace.from_jsonl(t.to_jsonl()))
    io = rm.ioremap(0x1000, 0x10)
    with pytest.raises(ReplayDivergence, match="wait for irq line 3 raised"):
        await rm.irq.wait_raised(3)              # nothing was raised before the write
    io.writel(0, 1)
    await rm.irq.wait_raised(3)
    assert io.readl(4) == 0x80
    with pytest.raises(ReplayDivergence, match="#3: expected the end of the trace"):
        await rm.irq.wait_lowered(3)
    rm.finish()


def test_bulk_reads_need_recorded_data_and_bad_files_are_refused(tmp_path):
    t = Trace()
    t.tracer("mem")("R", 0x2000, 4, 0)
    with pytest.raises(ReplayError, match="recorded without its data"):
        ReplayMachine(t).ioremap(0x2000, 0x1000).read(0, 4)
    t2 = Trace()
    t2.tracer("mem")("R", 0x2000, 4, 0, b"abcd")
    assert ReplayMachine(Trace.from_jsonl(t2.to_jsonl())).ioremap(0x2000, 0x1000).read(0, 4) == b"abcd"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t_ns": 0, "op": "read", "addr": 0, "width": 4, "value": 0}\nnot json\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:2: not a trace event"):
        Trace.load(bad)
    with pytest.raises(ReplayError, match="no recorded trace at"):
        ReplayMachine.load(tmp_path / "missing.jsonl")
    ev = TraceEvent(5, "memset", 0x10, 16, 0xA5, "mem")
    assert ev.describe() == "memset mem 0x10/16 fill 0xa5"
    assert isinstance(ReplayBus(ReplayMachine(t).replay), Bus)


DRIVER_TEST = '''
from driverkit.pytest_plugin import MachineLike

HPET = 0xFED00000

def test_hpet_driver(machine):
    assert isinstance(machine, MachineLike)  # a Machine when recording, a ReplayMachine after
    regs = machine.ioremap(HPET, 0x400)
    assert regs.readl(0) == 0x8086A201
    regs.writeq(0x10, {value})
    assert regs.readq(0x10) == {value}
'''


def test_record_with_qemu_then_replay_where_qemu_is_missing(tmp_path):
    rec = tmp_path / "recordings"
    write_project(tmp_path, {"test_drv.py": DRIVER_TEST.format(value=1)})
    res = run_pytest(tmp_path, "-q", "--driverkit-record", str(rec))
    assert res.outcomes() == {"passed": 1}, res.out
    assert [p.name for p in rec.iterdir()] == ["test_drv.py__test_hpet_driver.jsonl"]

    no_qemu = os.path.dirname(sys.executable)      # PATH without any qemu-system-*
    res = run_pytest(tmp_path, "-v", "--driverkit-replay", str(rec), path_env=no_qemu)
    assert "test_drv.py::test_hpet_driver REPLAYED" in res.out, res.out
    assert "machine tests ran in REPLAY" in res.out
    assert res.outcomes() == {"passed": 1}, res.out

    write_project(tmp_path, {"test_drv.py": DRIVER_TEST.format(value=3)})
    res = run_pytest(tmp_path, "-q", "--driverkit-replay", str(rec), path_env=no_qemu)
    assert res.outcomes() == {"failed": 1}, res.out
    assert ("ReplayDivergence: replay diverged at trace event #1: expected write mem "
            "0xfed00010/8 = 0x1, the driver did write mem 0xfed00010/8 = 0x3") in res.out
