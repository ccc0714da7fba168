"""Host side of the firmware mailbox (guest/firmware/README.md), laid out from the ELF's DWARF.

A test helper: the offsets come from `struct mailbox` in the firmware's DWARF, the addresses
from its symbol table, so this code holds no copy of the C header.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from driverkit.elf import ElfImage
from driverkit.errors import GuestError, MachineTimeout

CMD_ECHO, CMD_CRC32, CMD_EDU_FACTORIAL, CMD_INFO = 1, 2, 3, 4
MAGIC = 0x424D4B44
FW_BOOTING, FW_READY, FW_FAILED = 0, 1, 2


@dataclass
class Reply:
    status: int
    ret: list[int]
    data: bytes


def read_u(m, img: ElfImage, name: str) -> int:
    """The value of a published firmware variable, read at its symbol's address and size."""
    sym = img.symbols[name]
    return int.from_bytes(m.read_phys(sym.address, sym.size), "little")


async def wait_state(m, img: ElfImage, timeout: float = 10.0) -> int:
    """Poll fw_state until the firmware is ready or failed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (state := read_u(m, img, "fw_state")) == FW_BOOTING:
        if loop.time() > deadline:
            raise MachineTimeout("the firmware to leave FW_BOOTING", timeout)
        await asyncio.sleep(0.005)
    return state


class FirmwareMailbox:
    def __init__(self, m, img: ElfImage) -> None:
        self.m = m
        self.struct = img.struct("mailbox")
        self.off = {f.name: f.offset for f in self.struct.fields}
        self.base = read_u(m, img, "carveout_base")
        self.size = read_u(m, img, "carveout_size")
        hdr = self.header()
        if hdr.magic != MAGIC:
            raise GuestError(f"no mailbox at {self.base:#x}: magic {hdr.magic:#x}")

    def header(self):
        return self.struct.parse(self.m.read_phys(self.base, self.struct.sizeof()))

    def _w32(self, field: str, value: int, index: int = 0) -> None:
        self.m.write_phys(self.base + self.off[field] + 4 * index, (value & 0xFFFFFFFF).to_bytes(4, "little"))

    async def request(self, cmd: int, args: tuple[int, ...] = (), data: bytes = b"",
                      timeout: float = 5.0) -> Reply:
        hdr = self.header()
        self._w32("cmd", cmd)
        for i in range(4):
            self._w32("arg", args[i] if i < len(args) else 0, i)
            self._w32("ret", 0, i)
        self._w32("status", 0x7FFFFFFF)      # a value the firmware never answers
        self.m.write_phys(self.base + self.off["data"], data)
        self._w32("data_len", len(data))
        seq = (hdr.done + 1) & 0xFFFFFFFF
        self._w32("doorbell", seq)           # last: the request is complete
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (hdr := self.header()).done != seq:
            if loop.time() > deadline:
                raise MachineTimeout(f"the firmware to answer request {seq} (cmd {cmd:#x})", timeout)
            await asyncio.sleep(0.001)
        return Reply(hdr.status, list(hdr.ret), bytes(hdr.data[: hdr.data_len]))
