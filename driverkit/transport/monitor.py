"""A synchronous QMP channel for read-only monitor queries (the flat memory view).

Register accesses are synchronous, and some of them must first know QEMU's routing
now (`info mtree -f`), so that query cannot wait for the event loop: this second QMP
monitor is driven with blocking socket calls, one command at a time, each with a
deadline. QEMU broadcasts events to every monitor; this one skips them (the
Machine's asynchronous session records them).
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any, Callable, NoReturn

from ..errors import MachineTimeout, QmpError, QtestError

DeathCheck = Callable[[str], Exception]
"""Given what was going on, the error to raise when the channel closes (MachineDied)."""


class SyncMonitor:
    """A blocking QMP client over a connected stream socket (capabilities negotiated lazily)."""

    def __init__(self, sock: socket.socket, *, timeout: float = 10.0,
                 on_closed: DeathCheck | None = None) -> None:
        self.sock = sock
        self.timeout = timeout
        self._on_closed = on_closed
        self._buf = bytearray()
        self._ready = False
        self.closed = False

    def _closed(self, what: str) -> NoReturn:
        self.closed = True
        if self._on_closed is not None:
            raise self._on_closed(f"during the monitor command {what}")
        raise QtestError(f"QEMU closed the monitor channel during {what}")

    def _message(self, what: str, deadline: float) -> dict:
        """The next JSON object QEMU sends that is not an event."""
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                if not line.strip():
                    continue
                msg = json.loads(line)
                if "event" in msg:
                    continue
                return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise MachineTimeout(f"QEMU's monitor reply to {what}", self.timeout)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise MachineTimeout(f"QEMU's monitor reply to {what}", self.timeout) from None
            except OSError:
                data = b""
            if not data:
                self._closed(what)
            self._buf += data

    def execute(self, cmd: str, args: dict | None = None) -> Any:
        """One QMP command; its "return" value, or QmpError with QEMU's description."""
        if self.closed:
            self._closed(cmd)
        deadline = time.monotonic() + self.timeout
        if not self._ready:
            self._message("the QMP greeting", deadline)
            self._send({"execute": "qmp_capabilities"})
            self._message("qmp_capabilities", deadline)
            self._ready = True
        self._send({"execute": cmd, **({"arguments": args} if args else {})})
        reply = self._message(cmd, deadline)
        if "error" in reply:
            raise QmpError(f"QMP {cmd} failed: {reply['error'].get('desc', reply['error'])}")
        return reply.get("return")

    def hmp(self, command_line: str) -> str:
        """A human monitor command (read-only use: info ...), through this QMP monitor."""
        return str(self.execute("human-monitor-command", {"command-line": command_line}))

    def _send(self, obj: dict) -> None:
        try:
            self.sock.sendall(json.dumps(obj).encode() + b"\n")
        except OSError:
            self._closed(str(obj["execute"]))
