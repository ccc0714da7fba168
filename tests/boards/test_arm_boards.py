"""32-bit Arm boards: the board's own CPU, a parking image per profile, the map from QEMU."""

from __future__ import annotations

import pytest

from driverkit import Machine, MachineSpec
from driverkit.machine.boards import probe_board

# (board, CPU QEMU gives it, address, expected value, where the value comes from)
READS = [
    ("microbit", "cortex-m0", 0x10000010, 0x400, "nRF51 FICR CODEPAGESIZE: 1 KiB pages"),
    ("microbit", "cortex-m0", 0x10000014, 0x100, "nRF51 FICR CODESIZE: 256 pages"),
    ("mps2-an385", "cortex-m3", 0x40004FE0, 0x21, "CMSDK APB UART PID0"),
    ("mps2-an385", "cortex-m3", 0x40004FE4, 0xB8, "CMSDK APB UART PID1"),
    ("netduinoplus2", "cortex-m4", 0x40004400, 0xC0, "STM32F4 USART2 SR reset: TXE|TC"),
    ("lm3s6965evb", "cortex-m3", 0x400FE004, 0x1073402E, "Stellaris DID1 of an LM3S6965"),
]


@pytest.mark.parametrize("board,cpu,addr,value,what", READS)
async def test_board_register_reads(board: str, cpu: str, addr: int, value: int,
                                    what: str) -> None:
    assert probe_board("arm", board).cpu_model == cpu
    async with Machine(MachineSpec(arch="arm", machine=board)) as m:
        assert (await m.execute("query-status"))["running"]  # the parked CPU lets time run
        assert m.ioremap(addr & ~0xFF, 0x100).readl(addr & 0xFF) == value, what


async def test_map_comes_from_the_cpu_address_space() -> None:
    """On microbit flash and SRAM sit in the CPU's container, which qtest reaches."""
    async with Machine(MachineSpec(arch="arm", machine="microbit")) as m:
        assert m.backing(0x20000000) == "RAM"
        assert m.backing(0x00000000) == "ROM"
        sram = m.ioremap(0x20000000, 0x1000)
        sram.writel(0x10, 0xC0FFEE)
        assert sram.readl(0x10) == 0xC0FFEE
        assert m.backing(0x40008000) == "MMIO"  # TIMER0
