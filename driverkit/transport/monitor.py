"""A synchronous QMP channel for read-only monitor queries (the flat memory view).

Register accesses are synchronous, and some of them must first know QEMU's routing
now (`info mtree -f`), so that query cannot wait for the event loop: this second QMP
monitor is driven with blocking socket calls, one command at a time, each with a
deadline. QEMU broadcasts events to every monitor; this one skips them (the
Machine's asynchronous session records them).
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from typing import Any, Callable, NoReturn

from ..errors import MachineTimeout, QmpError, QtestError

DeathCheck = Callable[[str], Exception]
"""Given what was going on, the error to raise when the channel closes (MachineDied)."""


class SyncMonitor:
    """A blocking QMP client over a connected stream socket (capabilities negotiated lazily).

    Every command carries an id and only the reply with that id answers it, so a reply that
    arrives after its deadline (QEMU stopped for a while) is skipped, never taken for the
    next command's. One command at a time (a lock), so threads may share it.
    """

    def __init__(self, sock: socket.socket, *, timeout: float = 10.0,
                 on_closed: DeathCheck | None = None) -> None:
        self.sock = sock
        self.timeout = timeout
        self._on_closed = on_closed
        self._buf = bytearray()
        self._ready = False
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.closed = False

    def _closed(self, what: str) -> NoReturn:
        self.closed = True
        if self._on_closed is not None:
            raise self._on_closed(f"during the monitor command {what}")
        raise QtestError(f"QEMU closed the monitor channel during {what}")

    def _reply(self, ident: int, what: str, deadline: float) -> dict:
        """The reply carrying `ident` (events, the greeting and late replies are skipped)."""
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                if not line.strip():
                    continue
                try:
                    msg = json.loads(line)
                except ValueError:
                    raise QmpError(f"the monitor sent something that is not JSON: "
                                   f"{line[:80]!r}") from None
                if isinstance(msg, dict) and msg.get("id") == ident:
                    return msg
                continue
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

    def _call(self, cmd: str, args: dict | None, deadline: float) -> dict:
        ident = next(self._ids)
        msg: dict[str, Any] = {"execute": cmd, "id": ident}
        if args:
            msg["arguments"] = args
        try:
            self.sock.sendall(json.dumps(msg).encode() + b"\n")
        except OSError:
            self._closed(cmd)
        return self._reply(ident, cmd, deadline)

    def execute(self, cmd: str, args: dict | None = None) -> Any:
        """One QMP command; its "return" value, or QmpError with QEMU's description."""
        with self._lock:
            if self.closed:
                self._closed(cmd)
            deadline = time.monotonic() + self.timeout
            if not self._ready:
                self._call("qmp_capabilities", None, deadline)
                self._ready = True
            reply = self._call(cmd, args, deadline)
        if "error" in reply:
            raise QmpError(f"QMP {cmd} failed: {reply['error'].get('desc', reply['error'])}")
        return reply.get("return")

    def hmp(self, command_line: str) -> str:
        """A human monitor command (read-only use: info ...), through this QMP monitor."""
        return str(self.execute("human-monitor-command", {"command-line": command_line}))
