"""Per-test deadlines: stop a hung test, kill its machines, say where it was stuck.

Two layers. An async test's coroutine runs as a task with a deadline (the normal case: it
awaits something that never comes). Blocked synchronous code - a sync test, or a coroutine
stuck in a register poll or time.sleep - is stopped by a watchdog: SIGALRM (setitimer) at the
deadline, whose handler kills the test's QEMUs and raises MachineTimeout in the main thread
where the test runs (PEP 475: a blocking call interrupted by a signal whose handler raises
gives up with that exception). For an async test the watchdog fires WATCHDOG_GRACE after the
task's deadline. Where SIGALRM cannot be used (the test runs in another thread, or something
else, e.g. pytest-timeout, owns SIGALRM) a watchdog thread only kills the QEMUs, and the
test fails as soon as it touches its machine.
"""

from __future__ import annotations

import asyncio
import functools
import linecache
import os
import signal
import threading
from types import CodeType, FrameType
from typing import Any, Callable

from ..errors import MachineTimeout

WATCHDOG_GRACE = 1.0
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)


def _where(frame: FrameType) -> str:
    code = frame.f_code
    name = getattr(code, "co_qualname", code.co_name)
    return f"{name} ({os.path.basename(code.co_filename)}:{frame.f_lineno})"


def describe_stack(frames: list[FrameType]) -> str:
    """'`await x` in test_f (t.py:9), via A.wait (irq.py:60) -> ...' for a stuck coroutine."""
    ours = [f for f in frames if not f.f_code.co_filename.startswith(_ASYNCIO_DIR)]
    if not ours:
        return "the test to finish"
    inner = ours[-1]
    line = linecache.getline(inner.f_code.co_filename, inner.f_lineno).strip()
    text = f"`{line}` in {_where(inner)}" if line else _where(inner)
    if len(ours) > 1:
        text += "; awaited from " + " <- ".join(_where(f) for f in reversed(ours[:-1]))
    return text


def _line(frame: FrameType) -> str:
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return f"`{line}` in {_where(frame)}" if line else _where(frame)


def describe_sync(frame: FrameType | None, test: CodeType | None) -> str:
    """'`time.sleep(60)` in test_f (t.py:9)' for a test blocked in synchronous code, plus
    where below the test's line it was ('inside QtestChannel.read (qtest.py:80)')."""
    if frame is None:
        return "an unknown place"
    f: FrameType | None = frame
    while f is not None and f.f_code is not test:
        f = f.f_back
    if f is None or f is frame:  # blocked in the test's own line (or its frame is not found)
        return _line(frame)
    return f"{_line(f)}, inside {_where(frame)}"


def alarm_usable() -> bool:
    """SIGALRM can interrupt the test: we are its main thread and nobody else handles it."""
    return (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None))


class Deadline:
    """One test's deadline: state shared by the async guard and the watchdog."""

    def __init__(self, seconds: float, kill: Callable[[], None],
                 test: CodeType | None = None) -> None:
        self.seconds = seconds
        self.kill = kill
        self.test = test  # the test function's code, to say where in it a sync test was stuck
        self.what: str | None = None  # set when the deadline passed
        self._timer: threading.Timer | None = None
        self._alarm = False

    @property
    def expired(self) -> bool:
        return self.what is not None

    def error(self) -> MachineTimeout:
        err = MachineTimeout(self.what or "the test to finish", self.seconds)
        err.add_note("driverkit killed the test's machine(s) at the deadline")
        return err

    def start_watchdog(self, *, grace: bool) -> None:
        """Arm the watchdog for the deadline (+ WATCHDOG_GRACE if an async guard runs first)."""
        delay = self.seconds + (WATCHDOG_GRACE if grace else 0.0)
        if alarm_usable():
            signal.signal(signal.SIGALRM, self._on_alarm)
            signal.setitimer(signal.ITIMER_REAL, delay)
            self._alarm = True
            return

        def fire() -> None:
            if self.what is None:
                self.what = "the test, blocked in synchronous code, to finish"
            self.kill()

        self._timer = threading.Timer(delay, fire)
        self._timer.daemon = True
        self._timer.start()

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if self.what is None:
            stuck = describe_sync(frame, self.test)
            self.what = f"the test, blocked in synchronous code at {stuck}, to finish"
        self.kill()
        raise self.error()

    def stop_watchdog(self) -> None:
        if self._alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            self._alarm = False
        if self._timer is not None:
            self._timer.cancel()

    def guard(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a coroutine test function so it fails with MachineTimeout at the deadline."""

        @functools.wraps(fn)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            task = asyncio.ensure_future(fn(*args, **kwargs))
            try:
                done, _ = await asyncio.wait({task}, timeout=self.seconds)
            except asyncio.CancelledError:
                task.cancel()
                raise
            if task in done:
                return task.result()
            self.what = describe_stack(task.get_stack())
            self.stop_watchdog()  # the loop is responsive: no signal may land inside it now
            self.kill()
            task.cancel()
            try:
                await asyncio.wait_for(task, 5.0)
            except BaseException:
                pass
            raise self.error()

        return guarded
