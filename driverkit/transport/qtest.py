"""The qtest line protocol: validated commands, replies, and asynchronous IRQ lines.

QEMU aborts on a malformed qtest command, so every command is built here from
typed arguments and checked before it is sent. QEMU may send `IRQ raise N` /
`IRQ lower N` at any time (before the OK of the command that caused them, or
while nothing is pending); the reader folds them into a level mirror and hands
them to a listener, so they never desynchronise replies.
"""

from __future__ import annotations

import base64
import socket
import time
from typing import Callable, NoReturn

from ..errors import (
    AlignmentError,
    BoundsError,
    MachineTimeout,
    QtestError,
    ValueRangeError,
    WidthError,
)
from .base import WIDTHS

_READ = {1: "readb", 2: "readw", 4: "readl", 8: "readq"}
_WRITE = {1: "writeb", 2: "writew", 4: "writel", 8: "writeq"}
_IN = {1: "inb", 2: "inw", 4: "inl"}
_OUT = {1: "outb", 2: "outw", 4: "outl"}
ADDR_LIMIT = 1 << 64
PORT_LIMIT = 1 << 16
BULK_CHUNK = 1 << 20  # bytes per b64read/b64write command

IrqListener = Callable[[int, bool], None]
DeathCheck = Callable[[], Exception]
"""Returns the error to raise when the channel closes (MachineDied with QEMU's exit status)."""


def _check_width(width: int, allowed: tuple[int, ...] = WIDTHS) -> None:
    if width not in allowed:
        raise WidthError(f"width {width} bytes is not one of {', '.join(map(str, allowed))}")


def _check_addr(addr: int, n: int, limit: int = ADDR_LIMIT, what: str = "address") -> None:
    if not isinstance(addr, int) or addr < 0 or addr + n > limit:
        raise BoundsError(f"{what} {addr!r}+{n} outside [0, {limit:#x})")


def _check_value(value: int, width: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >> (8 * width):
        raise ValueRangeError(f"value {value!r} does not fit in {8 * width} bits")


class QtestChannel:
    """A synchronous qtest client over a connected stream socket (one command in flight)."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        timeout: float = 10.0,
        on_closed: DeathCheck | None = None,
    ) -> None:
        self.sock = sock
        self._timeout = timeout
        self._buf = bytearray()
        self._read_wire: dict[tuple[int, int], bytes] = {}  # polled registers: commands made once
        self._on_closed = on_closed
        self._irq_listeners: list[IrqListener] = []
        self.irq_levels: dict[int, bool] = {}
        self.closed = False
        sock.settimeout(timeout)

    @property
    def timeout(self) -> float:
        """Deadline in seconds for each reply (the socket's own timeout bounds every wait)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._timeout = value
        self.sock.settimeout(value)

    # --- IRQ lines ------------------------------------------------------------------------

    def add_irq_listener(self, fn: IrqListener) -> None:
        self._irq_listeners.append(fn)

    def _irq_line(self, line: str) -> None:
        parts = line.split()
        if len(parts) != 3 or parts[1] not in ("raise", "lower") or not parts[2].isdigit():
            raise QtestError(f"unexpected asynchronous qtest line {line!r}")
        n, level = int(parts[2]), parts[1] == "raise"
        self.irq_levels[n] = level
        for fn in self._irq_listeners:
            fn(n, level)

    def poll_async(self) -> None:
        """Consume whatever QEMU sent while idle (IRQ lines); call from an event loop reader."""
        if self.closed:
            return
        try:
            self.sock.setblocking(False)
            try:
                data = self.sock.recv(65536)
            finally:
                self.sock.settimeout(self.timeout)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return
        self._buf += data
        while (nl := self._buf.find(b"\n")) >= 0:
            line = self._buf[:nl].decode("ascii", "replace")
            del self._buf[: nl + 1]
            if not line.startswith("IRQ "):
                raise QtestError(f"qtest reply {line!r} arrived with no command pending")
            self._irq_line(line)

    # --- framing --------------------------------------------------------------------------

    def _closed(self) -> NoReturn:
        self.closed = True
        if self._on_closed is not None:
            raise self._on_closed()
        raise QtestError("qtest channel closed by QEMU")

    def _raw(self, wire: bytes) -> bytes | bytearray:
        """Send one already-validated, newline-terminated command; return what follows "OK"."""
        if self.closed:
            self._closed()
        sock, buf = self.sock, self._buf
        try:
            sock.sendall(wire)
        except OSError:
            self._closed()
        deadline = 0.0
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                if deadline == 0.0:
                    deadline = time.monotonic() + self.timeout
                elif time.monotonic() > deadline:
                    raise MachineTimeout(f"QEMU's qtest reply to {wire.strip()!r}", self.timeout)
                try:
                    data = sock.recv(4096)  # the socket's own timeout bounds each wait
                except TimeoutError:
                    raise MachineTimeout(
                        f"QEMU's qtest reply to {wire.strip()!r}", self.timeout
                    ) from None
                except OSError:
                    data = b""
                if not data:
                    self._closed()
                buf += data
                continue
            if buf.startswith(b"OK", 0, nl):
                value = buf[3:nl]
                del buf[: nl + 1]
                return value
            text = buf[:nl].decode("ascii", "replace")
            del buf[: nl + 1]
            if text.startswith("IRQ "):
                self._irq_line(text)
                continue
            name = wire.split(b" ", 1)[0].strip().decode("ascii", "replace")
            raise QtestError(f"qtest {name} failed: {text}")

    def command(self, line: str) -> str:
        """Send one already-validated command; return the reply's text after OK."""
        return bytes(self._raw(line.encode("ascii") + b"\n")).decode("ascii", "replace")

    # --- typed commands -------------------------------------------------------------------

    def read(self, addr: int, width: int) -> int:
        wire = self._read_wire.get((addr, width))
        if wire is None:  # first read of this register: validate and remember the command
            _check_width(width)
            _check_addr(addr, width)
            wire = f"{_READ[width]} {addr:#x}\n".encode("ascii")
            if len(self._read_wire) < 4096:
                self._read_wire[(addr, width)] = wire
        return int(self._raw(wire), 16)

    def write(self, addr: int, width: int, value: int) -> None:
        _check_width(width)
        _check_addr(addr, width)
        _check_value(value, width)
        self.command(f"{_WRITE[width]} {addr:#x} {value:#x}")

    def read_bytes(self, addr: int, n: int) -> bytes:
        _check_addr(addr, max(n, 1))
        out = bytearray()
        while len(out) < n:
            chunk = min(BULK_CHUNK, n - len(out))
            out += base64.b64decode(self.command(f"b64read {addr + len(out):#x} {chunk:#x}"))
        if len(out) != n:
            raise QtestError(f"b64read returned {len(out)} bytes, expected {n}")
        return bytes(out)

    def write_bytes(self, addr: int, data: bytes) -> None:
        _check_addr(addr, max(len(data), 1))
        for pos in range(0, len(data), BULK_CHUNK):
            chunk = data[pos : pos + BULK_CHUNK]
            b64 = base64.b64encode(chunk).decode("ascii")
            self.command(f"b64write {addr + pos:#x} {len(chunk):#x} {b64}")

    def memset(self, addr: int, n: int, byte: int) -> None:
        _check_addr(addr, max(n, 1))
        _check_value(byte, 1)
        if n:
            self.command(f"memset {addr:#x} {n:#x} {byte:#x}")

    def pio_read(self, port: int, width: int) -> int:
        _check_width(width, (1, 2, 4))
        _check_addr(port, width, PORT_LIMIT, "port")
        if port % width:
            raise AlignmentError(f"port {port:#x} not aligned to width {width}")
        return int(self.command(f"{_IN[width]} {port:#x}"), 16)

    def pio_write(self, port: int, width: int, value: int) -> None:
        _check_width(width, (1, 2, 4))
        _check_addr(port, width, PORT_LIMIT, "port")
        if port % width:
            raise AlignmentError(f"port {port:#x} not aligned to width {width}")
        _check_value(value, width)
        self.command(f"{_OUT[width]} {port:#x} {value:#x}")

    def irq_intercept_in(self, qom_path: str) -> None:
        if not qom_path or any(c.isspace() for c in qom_path):
            raise QtestError(f"bad QOM path {qom_path!r}")
        self.command(f"irq_intercept_in {qom_path}")

    def sync(self) -> None:
        """A no-op round trip that flushes pending asynchronous lines."""
        self.command("endianness")


class QtestBus:
    """The memory address space through qtest (MMIO, ROM, RAM): the Bus every IoMem can use."""

    def __init__(self, channel: QtestChannel) -> None:
        self.read = channel.read
        self.write = channel.write
        self.read_bytes = channel.read_bytes
        self.write_bytes = channel.write_bytes
        self.memset = channel.memset


class PortBus:
    """The x86 I/O port space through qtest, as a Bus (for I/O BARs and legacy ports)."""

    def __init__(self, channel: QtestChannel) -> None:
        self._ch = channel

    def read(self, addr: int, width: int) -> int:
        return self._ch.pio_read(addr, width)

    def write(self, addr: int, width: int, value: int) -> None:
        self._ch.pio_write(addr, width, value)

    def read_bytes(self, addr: int, n: int) -> bytes:
        return bytes(self._ch.pio_read(addr + i, 1) for i in range(n))

    def write_bytes(self, addr: int, data: bytes) -> None:
        for i, b in enumerate(data):
            self._ch.pio_write(addr + i, 1, b)

    def memset(self, addr: int, n: int, byte: int) -> None:
        self.write_bytes(addr, bytes([byte]) * n)
