"""Typed qtest commands: validated before they are sent, on the ordered wire of qtest_wire.

QEMU aborts on a malformed qtest command, so every command is built here from
typed arguments and checked before it is sent. The wire below matches each reply
to its command (IRQ lines, posted writes and late replies included).
"""

from __future__ import annotations

import base64
import binascii
import socket
from typing import Callable

from ..errors import (
    AlignmentError,
    ArgumentTypeError,
    BoundsError,
    QtestError,
    ValueRangeError,
    WidthError,
)
from .base import WIDTHS
from .qtest_wire import DeathCheck, IrqListener, QtestWire

_READ = {1: "readb", 2: "readw", 4: "readl", 8: "readq"}
_WRITE = {1: "writeb", 2: "writew", 4: "writel", 8: "writeq"}
_IN = {1: "inb", 2: "inw", 4: "inl"}
_OUT = {1: "outb", 2: "outw", 4: "outl"}
ADDR_LIMIT = 1 << 64
PORT_LIMIT = 1 << 16
BULK_CHUNK = 1 << 20  # bytes per b64read/b64write command
_WRITE_VERBS = {v: "mem" for v in (*_WRITE.values(), "write", "b64write", "memset")}
_WRITE_VERBS.update((v, "io") for v in _OUT.values())

WriteHook = Callable[[str, int, int], None]
"""Called after each write the channel sent as hook(space, addr, n): space "mem" or "io"."""

__all__ = ["DeathCheck", "IrqListener", "PortBus", "QtestBus", "QtestChannel", "WriteHook"]

def _check_width(width: int, allowed: tuple[int, ...] = WIDTHS) -> None:
    if width.__class__ is not int or width not in allowed:
        raise WidthError(f"width {width} bytes is not one of {', '.join(map(str, allowed))}")


def _check_addr(addr: int, n: int, limit: int = ADDR_LIMIT, what: str = "address") -> None:
    if not isinstance(addr, int) or isinstance(addr, bool):
        raise ArgumentTypeError(f"{what} must be an int, got {type(addr).__name__} {addr!r}")
    if addr < 0 or addr + n > limit:
        raise BoundsError(f"{what} {addr!r}+{n} outside [0, {limit:#x})")


def _check_count(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool):
        raise ArgumentTypeError(f"length must be an int, got {type(n).__name__} {n!r}")
    if n < 0:
        raise BoundsError(f"negative length {n}")


def _check_port(port: int, width: int) -> None:
    _check_width(width, (1, 2, 4))
    _check_addr(port, width, PORT_LIMIT, "port")
    if port % width:
        raise AlignmentError(f"port {port:#x} not aligned to width {width}")


def _check_value(value: int, width: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ArgumentTypeError(f"value must be an int, got {type(value).__name__} {value!r}")
    if value < 0 or value >> (8 * width):
        raise ValueRangeError(f"value {value!r} does not fit in {8 * width} bits")


class QtestChannel(QtestWire):
    """Typed qtest commands over a QtestWire: reads wait for their reply, writes are posted.

    A write returns once it is queued (as on PCI); the next read, `drain()`, `sync()`
    or the machine's next await sends and settles it, and an error it met surfaces
    there, naming the write. `posting = False` makes every write wait for its OK.

    Every write leaves through `_send_write` or `command()` (raw write verbs included), and
    `on_write` is called after each: the machine layer marks its memory map stale there
    (a write to a chipset register can re-route RAM), without this layer knowing of it.
    """

    def __init__(self, sock: socket.socket, *, timeout: float = 10.0,
                 on_closed: DeathCheck | None = None,
                 on_posted: Callable[[], None] | None = None) -> None:
        super().__init__(sock, timeout=timeout, on_closed=on_closed, on_posted=on_posted)
        self._read_wire: dict[tuple[int, int], bytes] = {}  # polled registers: commands made once
        self._write_wire: dict[tuple[int, int], bytes] = {}  # "writel 0xADDR " prefixes
        self.posting = True
        self.on_write: WriteHook | None = None
        """Told of every write once it is sent (posted) or done: (space, addr, n)."""

    def command(self, line: str) -> str:
        """Send one already-validated command; return the reply's text after OK.

        A raw write verb (writel, b64write, memset, outb...) is told to `on_write` too."""
        wire = line.encode("ascii") + b"\n"
        reply = self._ok(wire, self.one(wire)).decode("ascii", "replace")
        if self.on_write is not None:
            verb, _, rest = line.partition(" ")
            space = _WRITE_VERBS.get(verb)
            if space is not None:
                self.on_write(space, *_target(verb, rest))
        return reply

    @staticmethod
    def _ok(wire: bytes, line: bytes) -> bytes:
        if line.startswith(b"OK"):
            return line[3:]
        name = wire.split(b" ", 1)[0].strip().decode("ascii", "replace")
        raise QtestError(f"qtest {name} failed: {line.decode('ascii', 'replace')}")

    def _send_write(self, wire: bytes, space: str, addr: int, n: int) -> None:
        """The one road of every typed write: posted (or waited for), then told to on_write."""
        if self.posting:
            self.post(wire)
        else:
            self._ok(wire, self.one(wire))
        if self.on_write is not None:
            self.on_write(space, addr, n)

    # --- typed commands -------------------------------------------------------------------

    def _read_cmd(self, addr: int, width: int) -> bytes:
        wire = self._read_wire.get((addr, width))
        # first read of this register: validate (a bool or float width equals its int in the
        # cache key, so its class is checked too)
        if wire is None or addr.__class__ is not int or width.__class__ is not int:
            _check_width(width)
            _check_addr(addr, width)
            wire = f"{_READ[width]} {addr:#x}\n".encode("ascii")
            if len(self._read_wire) < 4096:
                self._read_wire[(addr, width)] = wire
        return wire

    def read(self, addr: int, width: int) -> int:
        wire = self._read_cmd(addr, width)
        line = self.one(wire)
        if line.startswith(b"OK "):
            return int(line[3:], 16)
        return int(self._ok(wire, line), 16)

    def read_many(self, addrs: list[int], width: int) -> list[int]:
        """Reads of `width` bytes at each address, pipelined in bounded windows."""
        wires = [self._read_cmd(a, width) for a in addrs]
        if not wires:
            return []
        lines = self.exchange(wires, f"QEMU's qtest replies to {len(wires)} pipelined "
                                     f"{_READ[width]} commands")
        out = []
        for wire, line in zip(wires, lines):
            out.append(int(line[3:] if line.startswith(b"OK ") else self._ok(wire, line), 16))
        return out

    def write(self, addr: int, width: int, value: int) -> None:
        prefix = self._write_wire.get((addr, width))
        if prefix is None or addr.__class__ is not int or width.__class__ is not int:
            _check_width(width)
            _check_addr(addr, width)
            prefix = f"{_WRITE[width]} {addr:#x} ".encode("ascii")
            if len(self._write_wire) < 4096:
                self._write_wire[(addr, width)] = prefix
        if value.__class__ is not int or value < 0 or value >> (8 * width):
            _check_value(value, width)
        self._send_write(b"%s0x%x\n" % (prefix, value), "mem", addr, width)

    def read_bytes(self, addr: int, n: int) -> bytes:
        _check_addr(addr, max(n, 1))
        _check_count(n)
        parts = []
        got = 0
        while got < n:
            chunk = min(BULK_CHUNK, n - got)
            wire = b"b64read 0x%x 0x%x\n" % (addr + got, chunk)
            line = self.one(wire)
            if not line.startswith(b"OK "):
                self._ok(wire, line)  # raises, naming QEMU's answer
            # decoded straight from the reply's bytes: no str round trip, one copy per chunk;
            # strict, so a damaged reply is an error, never other bytes
            try:
                part = binascii.a2b_base64(memoryview(line)[3:], strict_mode=True)
            except binascii.Error as exc:
                raise QtestError(f"b64read at {addr + got:#x}: QEMU's reply is not base64 "
                                 f"({exc})") from None
            got += len(part)
            parts.append(part)
            if len(part) != chunk:
                break
        if got != n:
            raise QtestError(f"b64read returned {got} bytes, expected {n}")
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def write_bytes(self, addr: int, data: bytes) -> None:
        _check_addr(addr, max(len(data), 1))
        for pos in range(0, len(data), BULK_CHUNK):
            chunk = data[pos : pos + BULK_CHUNK]
            b64 = base64.b64encode(chunk)
            self._send_write(b"b64write %#x %#x %s\n" % (addr + pos, len(chunk), b64), "mem",
                             addr + pos, len(chunk))

    def memset(self, addr: int, n: int, byte: int) -> None:
        _check_addr(addr, max(n, 1))
        _check_count(n)
        _check_value(byte, 1)
        if n:
            self._send_write(f"memset {addr:#x} {n:#x} {byte:#x}\n".encode("ascii"), "mem", addr, n)

    def pio_read(self, port: int, width: int) -> int:
        _check_port(port, width)
        return int(self.command(f"{_IN[width]} {port:#x}"), 16)

    def pio_write(self, port: int, width: int, value: int) -> None:
        _check_port(port, width)
        _check_value(value, width)
        self._send_write(f"{_OUT[width]} {port:#x} {value:#x}\n".encode("ascii"), "io", port,
                         width)

    def irq_intercept_in(self, qom_path: str) -> None:
        _check_word(qom_path, "bad QOM path")
        self.command(f"irq_intercept_in {qom_path}")

    def irq_intercept_out(self, qom_path: str) -> None:
        _check_word(qom_path, "bad QOM path")
        self.command(f"irq_intercept_out {qom_path}")

    def set_irq_in(self, qom_path: str, name: str, n: int, level: int) -> None:
        """Drive GPIO input `name`[n] (qtest's name "unnamed" for unnamed inputs). The caller
        checks path, name and index: QEMU aborts on an input that does not exist."""
        for word in (qom_path, name):
            _check_word(word, "bad word", " for set_irq_in")
        self.command(f"set_irq_in {qom_path} {name} {int(n)} {int(level)}")

    def sync(self) -> None:
        """Drain posted writes, then a no-op round trip that flushes pending IRQ lines."""
        self.command("endianness")


def _check_word(word: object, what: str, where: str = "") -> None:
    """One word of a qtest command line: a non-empty string without blanks (a blank would
    split it into two arguments QEMU reads differently)."""
    if not isinstance(word, str) or not word or any(c.isspace() for c in word):
        raise QtestError(f"{what} {word!r}{where}")


def _target(verb: str, rest: str) -> tuple[int, int]:
    """(addr, n) a raw write verb's arguments name; (0, 1 << 64) when they cannot be read, so
    the hook assumes the worst rather than nothing."""
    words = rest.split()
    try:
        addr = int(words[0], 0)
        if verb in ("write", "b64write", "memset"):
            return addr, int(words[1], 0)
        return addr, {"b": 1, "w": 2, "l": 4, "q": 8}[verb[-1]]
    except (IndexError, ValueError, KeyError):
        return 0, 1 << 64


class QtestBus:
    """The memory address space through qtest (MMIO, ROM, RAM): the Bus every IoMem can use."""

    def __init__(self, channel: QtestChannel) -> None:
        self.read = channel.read
        self.write = channel.write
        self.read_bytes = channel.read_bytes
        self.write_bytes = channel.write_bytes
        self.memset = channel.memset
        self.read_many = channel.read_many
        self.fence = channel.fence


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
