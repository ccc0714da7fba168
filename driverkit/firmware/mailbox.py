"""Host driver for the test firmware's mailbox (guest/firmware/README.md, protocol version 1).

Nothing of the C header is copied here: the addresses come from the ELF's symbol table, the
`struct mailbox` layout from its DWARF, and the values through `ioremap` of those addresses.
Register accesses are plain calls; waiting for the firmware (boot, an answer) is async and
every wait has a deadline (MachineTimeout).
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from ..elf import DwarfStruct, ElfImage
from ..errors import ConfigError, FirmwareError, MachineTimeout, MailboxError

if TYPE_CHECKING:  # pragma: no cover
    from ..io.iomem import IoMem
    from ..machine.machine import Machine

PROTOCOL_VERSION = 1
MAGIC = 0x424D4B44                 # "DKMB"
DATA_MAX = 256
POLL_INTERVAL = 0.001              # the firmware answers on its 1 kHz timer tick
_PENDING = 0x7FFFFFFF              # a status the firmware never answers
#: What the driver reads, each at its symbol's address and with its symbol's size.
PUBLISHED = ("fw_state", "fw_protocol_version", "carveout_base", "carveout_size",
             "carveout_align", "mem_limit", "mailbox")
_FAILED_LINE = re.compile(rb"FAILED: ([^\r\n]*)\r?\n")


class Command(IntEnum):
    ECHO = 0x01
    CRC32 = 0x02
    EDU_FACTORIAL = 0x03
    INFO = 0x04


class FwState(IntEnum):
    BOOTING = 0
    READY = 1
    FAILED = 2


@dataclass(frozen=True)
class Reply:
    """One answered request: `status` 0 or a negative errno, `ret[0..3]`, the inline data."""

    command: int
    status: int
    ret: tuple[int, int, int, int]
    data: bytes
    seq: int


@dataclass(frozen=True)
class EduFactorial:
    """What the firmware reports after driving edu itself."""

    value: int              # n! modulo 2**32 (edu's register is 32-bit)
    bar0: int
    device_id: int          # edu's ID register, 0x010000ed
    devfn: int              # bus << 8 | dev << 3 | fn
    assigned_bar: bool      # the firmware had to size and assign BAR0


@dataclass(frozen=True)
class CarveoutInfo:
    base: int
    size: int
    mem_limit: int          # 0: no mem=
    align: int


def _describe(cmd: int, args: tuple[int, ...]) -> str:
    try:
        name = Command(cmd).name
    except ValueError:
        name = f"command {cmd:#x}"
    return f"{name}({', '.join(f'{a:#x}' for a in args)})"


class FirmwareMailbox:
    """The firmware's published state and its mailbox in the carve-out.

    `await FirmwareMailbox.attach(m)` opens the ELF the machine booted (or `image`), waits
    until the firmware is ready, maps the carve-out and checks the mailbox header.
    """

    def __init__(self, machine: "Machine", image: ElfImage) -> None:
        self.machine = machine
        self.image = image
        self.layout: DwarfStruct = image.struct("mailbox")
        self._off = {f.name: f.offset for f in self.layout.fields}
        missing = {"magic", "version", "header_size", "doorbell", "done", "cmd", "status", "arg",
                   "ret", "data_len", "served", "data"} - set(self._off)
        if missing:
            raise FirmwareError(f"{image.path}: struct mailbox has no field(s) "
                                f"{', '.join(sorted(missing))}; not protocol version "
                                f"{PROTOCOL_VERSION}")
        syms = {name: image.symbols[name] for name in PUBLISHED}      # SymbolNotFound names it
        self._vars: dict[str, IoMem] = {
            name: machine.ioremap(sym.address, sym.size, name=f"fw:{name}")
            for name, sym in syms.items()
        }
        self.carveout: IoMem | None = None
        self.base = self.size = self.align = self.mem_limit = 0

    # --- set-up ----------------------------------------------------------------------------

    @classmethod
    async def attach(cls, machine: "Machine",
                     image: ElfImage | str | os.PathLike[str] | None = None,
                     *, timeout: float = 10.0) -> "FirmwareMailbox":
        """Driver for the firmware `machine` runs; FirmwareError if it failed, MachineTimeout
        if it is not ready within `timeout` seconds."""
        if image is None:
            if machine.spec.kernel is None:
                raise ConfigError("the machine boots no -kernel image; pass the firmware's ELF")
            image = machine.spec.kernel
        img = image if isinstance(image, ElfImage) else ElfImage.open(image)
        fw = cls(machine, img)
        try:
            await fw.wait_ready(timeout)
            fw._map_carveout()
        except BaseException:
            fw.close()
            raise
        return fw

    def read_var(self, name: str) -> int:
        """A published firmware variable (see PUBLISHED), read through its ioremap."""
        io = self._vars[name]
        return int.from_bytes(io.read(0, io.size), "little")

    @property
    def state(self) -> FwState:
        return FwState(self.read_var("fw_state"))

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until fw_state leaves BOOTING; FirmwareError with the firmware's reason if
        it FAILED."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (state := self.read_var("fw_state")) == FwState.BOOTING:
            self.machine.check_alive()
            if loop.time() >= deadline:
                raise MachineTimeout(f"the firmware to leave BOOTING (serial tail: "
                                     f"{self.machine.console.text[-200:]!r})", timeout)
            await asyncio.sleep(0.005)
        if state == FwState.FAILED:
            reason = await self._failure_reason(max(0.5, deadline - loop.time()))
            raise FirmwareError(f"the firmware failed to start: {reason}")
        if state != FwState.READY:
            raise FirmwareError(f"fw_state is {state}, not one of 0 (booting), 1, 2: is "
                                f"{self.image.path} the image this machine booted?")

    async def _failure_reason(self, timeout: float) -> str:
        """The firmware's `FAILED: reason` line (printed before fw_state is set; wait for the
        line's end)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            m = _FAILED_LINE.search(self.machine.console.data)
            if m:
                return m.group(1).decode(errors="replace").strip()
            await asyncio.sleep(0.01)
        return "(no FAILED line on the serial console)"

    def _map_carveout(self) -> None:
        version = self.read_var("fw_protocol_version")
        if version != PROTOCOL_VERSION:
            raise FirmwareError(f"firmware protocol version {version}; this driver speaks "
                                f"{PROTOCOL_VERSION}")
        self.base = self.read_var("carveout_base")
        self.size = self.read_var("carveout_size")
        self.align = self.read_var("carveout_align")
        self.mem_limit = self.read_var("mem_limit")
        if self.read_var("mailbox") != self.base:
            raise FirmwareError(f"mailbox pointer {self.read_var('mailbox'):#x} != carveout_base "
                                f"{self.base:#x}")
        if self.size < self.layout.sizeof():
            raise FirmwareError(f"carve-out of {self.size:#x} bytes cannot hold the "
                                f"{self.layout.sizeof():#x}-byte mailbox")
        self.carveout = self.machine.ioremap(self.base, self.size, name="firmware carve-out")
        hdr = self.header()
        if hdr.magic != MAGIC:
            raise FirmwareError(f"no mailbox at {self.base:#x}: magic {hdr.magic:#x}, "
                                f"expected {MAGIC:#x}")
        if hdr.version != PROTOCOL_VERSION or hdr.header_size != self._off["data"]:
            raise FirmwareError(f"mailbox header says version {hdr.version}, header size "
                                f"{hdr.header_size:#x}; this driver speaks version "
                                f"{PROTOCOL_VERSION} with data at {self._off['data']:#x}")

    def close(self) -> None:
        """Unmap everything this driver mapped (idempotent)."""
        for io in [*self._vars.values(), self.carveout]:
            if io is not None and io.mapped:
                self.machine.iounmap(io)

    # --- the protocol ----------------------------------------------------------------------

    def _io(self) -> "IoMem":
        if self.carveout is None or not self.carveout.mapped:
            raise FirmwareError("the mailbox is not mapped: use FirmwareMailbox.attach() "
                                "(or the driver was closed)")
        return self.carveout

    def header(self) -> Any:
        """The mailbox (construct Container) parsed from the carve-out, data included."""
        return self.layout.parse(self._io().read(0, self.layout.sizeof()))

    async def request(self, cmd: int, args: tuple[int, ...] | list[int] = (), data: bytes = b"",
                      *, timeout: float = 5.0, check: bool = True) -> Reply:
        """Write a request, ring the doorbell, wait for the answer within `timeout` seconds.

        A non-zero status raises MailboxError (its `.code` is the firmware's errno) unless
        check=False. A request still in flight from an earlier timeout is waited for first.
        """
        args = tuple(int(a) for a in args)
        if len(args) > 4 or any(not 0 <= a <= 0xFFFFFFFF for a in args):
            raise ConfigError(f"mailbox arguments: at most 4 u32 values, got {args!r}")
        if not 0 <= cmd <= 0xFFFFFFFF:
            raise ConfigError(f"mailbox command {cmd!r} is not a u32")
        if len(data) > DATA_MAX:
            raise ConfigError(f"mailbox data is {len(data)} bytes; the mailbox holds {DATA_MAX}")
        what = _describe(cmd, args)
        io = self._io()
        off = self._off
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await self._until(lambda h: h.done == h.doorbell, deadline, timeout,
                          f"an earlier request to finish before {what}")
        hdr = self.header()
        io.writel(off["cmd"], cmd)
        for i in range(4):
            io.writel(off["arg"] + 4 * i, args[i] if i < len(args) else 0)
            io.writel(off["ret"] + 4 * i, 0)
        io.writel(off["status"], _PENDING)
        io.write(off["data"], data)
        io.writel(off["data_len"], len(data))
        seq = (hdr.done + 1) & 0xFFFFFFFF
        io.writel(off["doorbell"], seq)        # last: the request is complete
        hdr = await self._until(lambda h: h.done == seq, deadline, timeout,
                                f"the firmware to answer request {seq}, {what}")
        data = bytes(hdr.data[: min(hdr.data_len, DATA_MAX)])
        reply = Reply(cmd, hdr.status, tuple(hdr.ret), data, seq)
        if check and reply.status != 0:
            raise MailboxError(what, reply.status, reply.ret)
        return reply

    async def _until(self, ok: Any, deadline: float, timeout: float, what: str) -> Any:
        loop = asyncio.get_running_loop()
        while not ok(hdr := self.header()):
            self.machine.check_alive()
            if loop.time() >= deadline:
                raise MachineTimeout(what, timeout)
            await asyncio.sleep(POLL_INTERVAL)
        return hdr

    # --- the commands ----------------------------------------------------------------------

    async def echo(self, *args: int, data: bytes = b"", timeout: float = 5.0) -> Reply:
        return await self.request(Command.ECHO, args, data, timeout=timeout)

    async def crc32(self, offset: int, length: int, *, timeout: float = 5.0) -> int:
        """CRC-32/IEEE (zlib.crc32) of carve-out bytes [offset, offset+length), by the firmware."""
        return (await self.request(Command.CRC32, (offset, length), timeout=timeout)).ret[0]

    async def edu_factorial(self, n: int, *, timeout: float = 5.0) -> EduFactorial:
        r = (await self.request(Command.EDU_FACTORIAL, (n,), timeout=timeout)).ret
        return EduFactorial(r[0], r[1], r[2], r[3] & 0xFFFF, bool(r[3] & (1 << 16)))

    async def info(self, *, timeout: float = 5.0) -> CarveoutInfo:
        r = (await self.request(Command.INFO, timeout=timeout)).ret
        return CarveoutInfo(r[0], r[1], r[2], r[3])

    def __repr__(self) -> str:
        where = f"{self.base:#x}+{self.size:#x}" if self.carveout is not None else "not mapped"
        return f"<FirmwareMailbox {self.image.path} carve-out {where}>"
