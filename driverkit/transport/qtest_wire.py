"""The qtest wire: framing, asynchronous IRQ lines, and one queue of replies still owed.

QEMU answers qtest commands strictly in order. Every command sent is queued here
until its reply line arrives, as one of three kinds:
- wanted: a caller waits for it (a read, a pipelined batch of reads);
- posted: a write nobody waits for (as on PCI); its OK is checked and dropped, and
  a failure surfaces at the next drain, naming the write;
- stale: its caller gave up at the deadline; the late reply is counted and dropped.
So a reply is never handed to the wrong command, also after a timeout. Lines
that belong to no command (a desynchronised peer) mark the channel unusable
with a clear error instead of being guessed at, and nothing is raised from the
event-loop callbacks (errors are kept for the next call).

Windows are bounded (WINDOW replies owed at most): a unix socket charges every
small reply about 1 KiB of buffer, and while a send cannot proceed the wire
reads replies, so the two socket buffers can never fill at once.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections import deque
from typing import Callable, NoReturn

from ..errors import DriverkitError, MachineTimeout, QtestError

WANTED, POSTED, STALE = 0, 1, 2
WINDOW = 256
"""Replies owed at most before a sender waits (pipelined reads and posted writes)."""
FLUSH_AT = 64
"""Posted commands buffered before they are sent in one write."""

IrqListener = Callable[[int, bool], None]
DeathCheck = Callable[[str], "Exception | None"]
"""Given what was going on, returns the error for a channel QEMU closed (MachineDied...)."""


def describe(wire: bytes) -> str:
    """A command as people read it in an error message (long payloads shortened)."""
    text = wire.strip().decode("ascii", "replace")
    return text if len(text) <= 80 else text[:72] + "..."


class QtestWire:
    """One qtest connection: sends commands, matches every reply to its command, in order."""

    def __init__(self, sock: socket.socket, *, timeout: float = 10.0,
                 on_closed: DeathCheck | None = None,
                 on_posted: Callable[[], None] | None = None) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._fd = sock.fileno()
        self._rpoll = select.poll()
        self._rpoll.register(self._fd, select.POLLIN)
        self._wpoll = select.poll()
        self._wpoll.register(self._fd, select.POLLIN | select.POLLOUT)
        self.timeout = timeout
        """Deadline in seconds for each wait on QEMU (a reply, or room to send)."""
        self._buf = bytearray()
        self._owed: deque[tuple[int, bytes]] = deque()
        self._out: list[bytes] = []  # commands queued in _owed but not yet sent (tail of it)
        self._replies: list[bytes] = []  # replies of WANTED commands, in order
        self._posted_owed = 0
        self._posted_error: QtestError | None = None
        self._broken: DriverkitError | None = None
        self._lock = threading.RLock()
        self._on_closed = on_closed
        self.on_posted = on_posted
        """Called (once per batch) when a posted command is buffered: schedule flush_posted."""
        self._flush_scheduled = False
        self._irq_listeners: list[IrqListener] = []
        self.replies = 0
        """Replies received so far (a look at QEMU's log can be skipped while it is unchanged:
        QEMU logs what it refused before it replies)."""
        self.stale_replies = 0
        """Late replies to commands whose caller had timed out (counted, then dropped)."""
        self.closed = False

    @property
    def owed(self) -> int:
        """Commands sent or queued whose replies have not arrived yet."""
        return len(self._owed)

    # --- IRQ lines ------------------------------------------------------------------------

    def add_irq_listener(self, fn: IrqListener) -> None:
        self._irq_listeners.append(fn)

    def _irq_line(self, line: bytes) -> None:
        parts = line.decode("ascii", "replace").split()
        if len(parts) != 3 or parts[1] not in ("raise", "lower") or not parts[2].isdigit():
            self._broken = QtestError(f"unexpected asynchronous qtest line {line!r}; "
                                      "the channel is unusable")
            return
        n, level = int(parts[2]), parts[1] == "raise"
        for fn in self._irq_listeners:
            fn(n, level)

    # --- reading --------------------------------------------------------------------------

    def _dispatch(self, line: bytes) -> None:
        if line.startswith(b"IRQ "):
            self._irq_line(line)
            return
        if not self._owed:
            self._broken = QtestError(
                f"qtest reply {line[:60]!r} arrived with no command pending; the channel is "
                "out of step with QEMU and unusable")
            return
        kind, wire = self._owed.popleft()
        self.replies += 1
        if kind == WANTED:
            self._replies.append(line)
        elif kind == POSTED:
            self._posted_owed -= 1
            if not line.startswith(b"OK") and self._posted_error is None:
                self._posted_error = QtestError(
                    f"posted qtest write {describe(wire)!r} failed: "
                    f"{line.decode('ascii', 'replace')}")
        else:
            self.stale_replies += 1

    def _take(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        start = 0
        find, dispatch = buf.find, self._dispatch
        while (nl := find(b"\n", start)) >= 0:
            dispatch(bytes(buf[start:nl]))
            start = nl + 1
        if start:
            del buf[:start]

    def _recv(self, deadline: float | None) -> bool:
        """Read what QEMU sent, waiting until `deadline` (None: only what is there now).

        False if the deadline passed with nothing read; sets `closed` on EOF.
        """
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._rpoll.poll(max(1, int(remaining * 1000 + 1))):
                return False
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return deadline is None
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return True
        self._take(data)
        return True

    # --- state checks ---------------------------------------------------------------------

    def _context(self) -> str:
        """What the channel was doing, for an error about QEMU going away."""
        for kind, wire in self._owed:
            if kind == POSTED:
                return (f"before acknowledging the posted write {describe(wire)!r} "
                        f"({self._posted_owed} posted write(s) unacknowledged)")
        for kind, wire in self._owed:
            if kind == WANTED:
                return f"during qtest command {describe(wire)!r}"
        return "on the qtest channel"

    def _raise_closed(self) -> NoReturn:
        self.closed = True
        what = self._context()
        err = self._on_closed(what) if self._on_closed is not None else None
        if err is not None:
            raise err
        raise QtestError(f"qtest channel closed by QEMU {what}")

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise self._broken
        if self.closed:
            self._raise_closed()

    def _raise_posted_error(self) -> None:
        err, self._posted_error = self._posted_error, None
        if err is not None:
            raise err

    # --- sending --------------------------------------------------------------------------

    def _flush(self) -> None:
        """Send every queued command; reads replies meanwhile whenever the socket is full."""
        if not self._out:
            return
        data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
        count = len(self._out)
        self._out.clear()
        try:  # the common case: the kernel takes it all at once
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._raise_closed()
        if sent == len(data):
            return
        view, deadline = memoryview(data), None
        send = self.sock.send
        while sent < len(data):
            try:
                sent += send(view[sent:])
                continue
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self._raise_closed()
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.timeout
            if now >= deadline:
                if sent == 0:  # nothing reached QEMU: those commands were never sent
                    first = describe(data.split(b"\n", 1)[0])
                    for _ in range(count):
                        kind, _w = self._owed.pop()
                        self._posted_owed -= kind == POSTED
                    raise MachineTimeout(f"room to send {count} qtest command(s) "
                                         f"(first: {first!r})", self.timeout)
                self._broken = MachineTimeout("room to send the rest of a qtest command "
                                              "(the channel is unusable: a command is cut)",
                                              self.timeout)
                raise self._broken
            self._wpoll.poll(max(1, int((deadline - now) * 1000 + 1)))
            self._recv(None)  # replies QEMU is blocked on: read them so it reads ours
            if self.closed:
                self._raise_closed()

    def _wait(self, limit: int, what: str | bytes) -> None:
        """Send everything, then wait until at most `limit` replies are owed.

        At the deadline every wanted command still owed becomes stale (its reply will be
        dropped when it comes) and MachineTimeout names `what` (bytes: the reply to that
        command).
        """
        self._flush()
        deadline = time.monotonic() + self.timeout
        while len(self._owed) > limit:
            if not self._recv(deadline):
                self._owed = deque((STALE if k == WANTED else k, w) for k, w in self._owed)
                self._replies.clear()
                if isinstance(what, bytes):
                    what = f"QEMU's qtest reply to {describe(what)!r}"
                raise MachineTimeout(what, self.timeout)
            if self._broken is not None:
                raise self._broken
            if self.closed:
                self._raise_closed()

    def exchange(self, wires: list[bytes], what: str) -> list[bytes]:
        """Send commands and return their reply lines, in order (pipelined in windows)."""
        with self._lock:
            self._check_usable()
            owed, out = self._owed, self._out
            half = WINDOW // 2
            for i in range(0, len(wires), half):  # one half-window in flight while the next goes
                for w in wires[i:i + half]:
                    owed.append((WANTED, w))
                    out.append(w)
                self._flush()
                if len(owed) > half:
                    self._wait(half, what)
            self._wait(0, what)
            replies, self._replies = self._replies, []
            self._raise_posted_error()
            return replies

    def one(self, wire: bytes) -> bytes:
        """Send one command, return its reply line (the fast path of every read)."""
        with self._lock:
            if self._broken is not None or self.closed:
                self._check_usable()
            self._owed.append((WANTED, wire))
            self._out.append(wire)
            self._wait(0, wire)
            line = self._replies.pop()
            if self._posted_error is not None:
                self._raise_posted_error()
            return line

    def post(self, wire: bytes) -> None:
        """Queue a command whose reply nobody waits for (a posted write)."""
        with self._lock:
            if self._broken is not None or self.closed:
                self._check_usable()
            self._owed.append((POSTED, wire))
            self._posted_owed += 1
            self._out.append(wire)
            if len(self._out) >= FLUSH_AT:
                self._flush()
                if len(self._owed) > WINDOW:
                    self._recv(None)
                    if len(self._owed) > WINDOW:
                        self._wait(WINDOW // 2, f"QEMU to acknowledge {len(self._owed)} "
                                                "posted qtest writes")
            elif not self._flush_scheduled and self.on_posted is not None:
                self._flush_scheduled = True
                self.on_posted()

    def drain(self) -> None:
        """Wait until QEMU has acknowledged every posted write; raise what one of them met."""
        with self._lock:
            self._check_usable()
            if self._posted_owed:
                self._wait(0, f"QEMU to acknowledge {self._posted_owed} posted qtest write(s)")
            self._raise_posted_error()

    def fence(self) -> None:
        """Before touching shared RAM directly: every posted write has taken effect."""
        if self._posted_owed or self._posted_error is not None:
            self.drain()

    # --- event-loop callbacks (never raise) -------------------------------------------------

    def poll_async(self) -> None:
        """Consume what QEMU sent while nobody waits (IRQ lines, posted and late replies)."""
        if self.closed or not self._lock.acquire(blocking=False):
            return  # a caller holding the lock reads it
        try:
            self._recv(None)
        finally:
            self._lock.release()

    def flush_posted(self) -> None:
        """Send buffered posted writes (scheduled through on_posted, so any await sends them)."""
        self._flush_scheduled = False
        if not self._out or not self._lock.acquire(blocking=False):
            return
        try:
            if self._broken is None and not self.closed:
                self._flush()
        except DriverkitError as exc:  # kept for the next call on the channel
            if self._posted_error is None and not self.closed:
                self._posted_error = QtestError(f"sending posted qtest writes failed: {exc}")
        finally:
            self._lock.release()
