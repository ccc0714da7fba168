"""The serial console: everything the guest prints is captured; the host can type and wait."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path
from typing import Callable

from ..errors import MachineError, MachineTimeout

Pattern = str | bytes | re.Pattern


class SerialConsole:
    """COM1 (x86) or PL011 (arm) output, captured in full and to a log file."""

    def __init__(self, log_path: Path | None = None) -> None:
        self.data = bytearray()
        self._pos = 0
        self._changed = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task | None = None
        self._log = open(log_path, "ab") if log_path else None
        self.log_path = log_path
        self.eof = False
        self._dead: Callable[[], Exception | None] = lambda: None

    async def attach(self, sock: socket.socket, dead: Callable[[], Exception | None]) -> None:
        reader, self._writer = await asyncio.open_connection(sock=sock)
        self._dead = dead
        self._task = asyncio.get_running_loop().create_task(self._pump(reader))

    async def _pump(self, reader: asyncio.StreamReader) -> None:
        try:
            while chunk := await reader.read(65536):
                self.data += chunk
                if self._log:
                    self._log.write(chunk)
                    self._log.flush()
                self._changed.set()
        except (ConnectionError, OSError):
            pass
        self.eof = True
        self._changed.set()

    @property
    def text(self) -> str:
        """All output so far, decoded leniently."""
        return self.data.decode("utf-8", "replace")

    def write(self, data: bytes | str) -> None:
        """Type into the guest's serial port."""
        if isinstance(data, str):
            data = data.encode()
        if self._writer is None or self._writer.is_closing():
            err = self._dead()
            raise err if err else MachineError("the serial console is not attached (machine "
                                               "not started, or already closed)")
        self._writer.write(data)

    async def expect(self, pattern: Pattern, timeout: float = 10.0) -> re.Match:
        """Wait until output after the last match contains `pattern`; return the match."""
        shown = pattern if isinstance(pattern, (str, bytes)) else pattern.pattern
        if isinstance(pattern, str):
            regex = re.compile(re.escape(pattern.encode()))
        elif isinstance(pattern, bytes):
            regex = re.compile(re.escape(pattern))
        elif isinstance(pattern.pattern, str):
            regex = re.compile(pattern.pattern.encode(), pattern.flags & ~re.UNICODE)
        else:
            regex = pattern
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            m = regex.search(self.data, self._pos)
            if m:
                self._pos = m.end()
                return m
            if self.eof:
                err = self._dead()
                if err is not None:
                    raise err
            remaining = deadline - loop.time()
            if remaining <= 0:
                tail = self.data[-300:].decode("utf-8", "replace")
                raise MachineTimeout(
                    f"serial output matching {shown!r} (last output: {tail!r})", timeout
                )
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.25))
            except asyncio.TimeoutError:
                pass

    def skip(self) -> None:
        """Forget output received so far: the next expect only sees new output."""
        self._pos = len(self.data)

    def detach(self) -> None:
        """Stop reading and close the socket's transport, without waiting (a dropped machine)."""
        if self._task is not None:
            self._task.cancel()
        if self._writer is not None:
            self._writer.close()
        if self._log:
            self._log.close()
            self._log = None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        if self._writer is not None:
            self._writer.close()
        if self._log:
            self._log.close()
            self._log = None
