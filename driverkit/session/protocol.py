"""The supervisor's wire protocol: one JSON object per line over a unix stream socket.

Request  {"op": "status" | "run" | "call" | "stop", ...}
Reply    {"ok": true, ...}  or  {"ok": false, "error": message, "type": error class name}
"""

from __future__ import annotations

import json
import socket
import time

from ..errors import SessionError

MAX_LINE = 64 << 20  # a dump of a few MiB in hex fits; anything longer is a broken peer


def encode(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict:
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise SessionError(f"malformed message from the session: {exc}") from None
    if not isinstance(obj, dict):
        raise SessionError(f"malformed message from the session: {obj!r}")
    return obj


def read_line(sock: socket.socket, buf: bytearray, deadline: float, what: str) -> bytes:
    """One line from `sock` before `deadline` (time.monotonic), bytes after it kept in buf."""
    while True:
        i = buf.find(b"\n")
        if i >= 0:
            line = bytes(buf[:i])
            del buf[: i + 1]
            return line
        left = deadline - time.monotonic()
        if left <= 0:
            raise SessionError(f"{what}: no reply within the deadline")
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 16)
        except TimeoutError:
            raise SessionError(f"{what}: no reply within the deadline") from None
        except OSError as exc:
            raise SessionError(f"{what}: {exc.strerror or exc}") from None
        if not chunk:
            raise SessionError(f"{what}: the supervisor closed the connection")
        buf += chunk
        if len(buf) > MAX_LINE:
            raise SessionError(f"{what}: reply longer than {MAX_LINE} bytes")
