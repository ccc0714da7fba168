"""Bulk IoMem accesses are traced with their bytes, so a replay can serve them without QEMU."""

from __future__ import annotations

from driverkit import Machine
from driverkit.io.trace import Trace
from driverkit.machine.replay import ReplayMachine


async def test_bulk_accesses_recorded_with_data_replay_without_qemu():
    async with Machine() as m:
        ram = m.ioremap(0x300000, 0x1000)
        ram.write(0x10, b"driverkit")
        assert ram.read(0x10, 9) == b"driverkit"
        ops = [(e.op, e.addr, e.data) for e in m.trace.events]
        assert ops == [("write_bulk", 0x300010, b"driverkit"), ("read_bulk", 0x300010, b"driverkit")]
        recorded = m.trace.to_jsonl()
    replay = ReplayMachine(Trace.from_jsonl(recorded))
    io = replay.ioremap(0x300000, 0x1000)
    io.write(0x10, b"driverkit")
    assert io.read(0x10, 9) == b"driverkit"
    replay.finish()
