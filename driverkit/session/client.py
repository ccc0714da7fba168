"""Talking to a session's supervisor from the CLI or from Python.

    from driverkit.session import Session
    with Session.attach("board") as s:
        s.readl(0xfed00000)                 # the session's Machine does the access
        s.run(["lspci", "-v"]).text         # any machine command, as the CLI runs it
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import errors
from ..errors import DriverkitError, SessionError
from .paths import check_name, session_dir, session_root
from .protocol import decode, encode, read_line

if TYPE_CHECKING:
    from ..cli.common import Outcome

DEFAULT_TIMEOUT = 60.0


def _remote_error(reply: dict) -> DriverkitError:
    """The supervisor's error as the same DriverkitError subclass where one has that name."""
    cls = getattr(errors, str(reply.get("type", "")), None)
    msg = str(reply.get("error", "unknown error"))
    if isinstance(cls, type) and issubclass(cls, DriverkitError):
        exc = cls.__new__(cls)  # some constructors want more than the message they built
        Exception.__init__(exc, msg)
        return exc
    return SessionError(msg)


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie is dead; one that is our child is reaped here)."""
    if pid <= 0:
        return False
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state != b"Z"


def read_info(name: str) -> dict | None:
    """The session's record (supervisor pid, QEMU pid, spec), or None if it has none yet."""
    try:
        return json.loads((session_dir(name) / "info.json").read_text())
    except (OSError, ValueError):
        return None


def names() -> list[str]:
    root = session_root()
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


class Session:
    """A connection to one session's supervisor (one request at a time, each with a deadline)."""

    def __init__(self, name: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name = check_name(name)
        self.dir: Path = session_dir(name)
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = bytearray()

    @classmethod
    def attach(cls, name: str, timeout: float = DEFAULT_TIMEOUT) -> "Session":
        """Connect to session `name`; SessionError if it does not exist or its QEMU died."""
        s = cls(name, timeout)
        try:
            st = s.status()
        except BaseException:
            s.close()
            raise
        if st["state"] != "running":
            s.close()
            raise SessionError(f"session {name!r}: {st['detail']}; `driverkit stop {name}` "
                               "removes it")
        return s

    def _connect(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        if not self.dir.is_dir():
            known = ", ".join(names()) or "none"
            raise SessionError(f"no session {self.name!r} (sessions: {known}); start one with "
                               f"`driverkit start --name {self.name}`")
        info = read_info(self.name)
        if info is None or not pid_alive(int(info.get("pid", 0))):
            raise SessionError(f"session {self.name!r}: its supervisor is gone (killed?); "
                               f"`driverkit stop {self.name}` removes what it left")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(5.0)
            sock.connect(str(self.dir / "sock"))
        except OSError as exc:
            sock.close()
            raise SessionError(f"session {self.name!r}: cannot connect to its supervisor: "
                               f"{exc.strerror or exc}") from None
        self._sock = sock
        return sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, obj: dict, timeout: float | None = None) -> dict:
        """Send one request, wait for its reply; a failure reply raises its DriverkitError."""
        sock = self._connect()
        what = f"session {self.name!r} {obj.get('op')}"
        try:
            sock.sendall(encode(obj))
        except OSError as exc:
            self.close()
            raise SessionError(f"{what}: {exc.strerror or exc}") from None
        try:
            reply = decode(read_line(sock, self._buf, time.monotonic() +
                                     (timeout or self.timeout), what))
        except SessionError:
            self.close()  # a late reply must never be read as the next one's
            raise
        if not reply.get("ok"):
            raise _remote_error(reply)
        return reply

    # --- what the CLI uses ------------------------------------------------------------------

    def status(self) -> dict:
        """{"state": "running" | "died", "detail": str, "pid", "qemu_pid", "spec", ...}"""
        return self.request({"op": "status"}, timeout=10.0)

    def run_command(self, argv: list[str]) -> "Outcome":
        from ..cli.common import Outcome

        return Outcome.from_wire(self.request({"op": "run", "argv": list(argv)})["outcome"])

    def run(self, argv: list[str]) -> "Outcome":
        """Run a machine command (e.g. ["peek", "0xfed00000"]) on the session's machine."""
        return self.run_command(argv)

    def stop(self) -> None:
        self.request({"op": "stop"}, timeout=30.0)
        self.close()

    # --- plain accesses for Python scripts ----------------------------------------------------

    def _call(self, method: str, **kw: Any) -> Any:
        return self.request({"op": "call", "method": method, "args": kw})["value"]

    def read(self, addr: int, width: int) -> int:
        """An MMIO/RAM read of `width` bytes at physical `addr` (as ioremap(...).read_width)."""
        return int(self._call("read", addr=addr, width=width))

    def write(self, addr: int, width: int, value: int) -> None:
        self._call("write", addr=addr, width=width, value=value)

    def readb(self, addr: int) -> int:
        return self.read(addr, 1)

    def readw(self, addr: int) -> int:
        return self.read(addr, 2)

    def readl(self, addr: int) -> int:
        return self.read(addr, 4)

    def readq(self, addr: int) -> int:
        return self.read(addr, 8)

    def writeb(self, addr: int, value: int) -> None:
        self.write(addr, 1, value)

    def writew(self, addr: int, value: int) -> None:
        self.write(addr, 2, value)

    def writel(self, addr: int, value: int) -> None:
        self.write(addr, 4, value)

    def writeq(self, addr: int, value: int) -> None:
        self.write(addr, 8, value)

    def read_bytes(self, addr: int, n: int) -> bytes:
        return base64.b64decode(self._call("read_bytes", addr=addr, n=n))

    def inb(self, port: int) -> int:
        return int(self._call("pio_read", port=port, width=1))

    def inw(self, port: int) -> int:
        return int(self._call("pio_read", port=port, width=2))

    def inl(self, port: int) -> int:
        return int(self._call("pio_read", port=port, width=4))

    def outb(self, port: int, value: int) -> None:
        self._call("pio_write", port=port, width=1, value=value)

    def outw(self, port: int, value: int) -> None:
        self._call("pio_write", port=port, width=2, value=value)

    def outl(self, port: int, value: int) -> None:
        self._call("pio_write", port=port, width=4, value=value)

    def config_read(self, bdf: str, offset: int, width: int = 4) -> int:
        """PCI config space of the function at "bb:dd.f"."""
        return int(self._call("cfg_read", bdf=bdf, offset=offset, width=width))

    def config_write(self, bdf: str, offset: int, width: int, value: int) -> None:
        self._call("cfg_write", bdf=bdf, offset=offset, width=width, value=value)
