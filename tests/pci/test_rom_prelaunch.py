"""A ROM firmware under -S never runs: the framework owns PCI as with the bare firmware."""

from __future__ import annotations

from pathlib import Path

import pytest

from driverkit import Machine, MachineSpec
from driverkit.machine.firmware import hello_rom

EDU = (0x1234, 0x11E8)


@pytest.mark.parametrize("board", ["q35", "pc"])
async def test_rom_with_dash_s_gets_bars_from_the_framework(board: str, tmp_path: Path) -> None:
    rom = tmp_path / "hello.rom"
    rom.write_bytes(hello_rom(b"never printed"))
    spec = MachineSpec(machine=board, firmware=str(rom), extra_args=["-S"], devices=["edu"])
    async with Machine(spec) as m:
        assert (await m.execute("query-status"))["status"] == "prelaunch"
        dev = m.pci.find(vendor=EDU[0], device=EDU[1])
        dev.enable()
        assert dev.iomap(0).readl(0) == 0x010000ED
        assert m.console.text == ""  # the ROM never ran
