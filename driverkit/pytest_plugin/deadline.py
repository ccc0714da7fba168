"""Per-test deadlines: cancel a hung async test, kill its machines, say where it was stuck.

Two layers: the test coroutine runs as a task with a deadline (the normal case: it
awaits something that never comes); a watchdog thread kills the test's QEMUs a
moment later in case the test is blocked in synchronous code (a register poll),
which then fails at once with MachineDied and is reported as MachineTimeout.
"""

from __future__ import annotations

import asyncio
import functools
import linecache
import os
import threading
from types import FrameType
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


class Deadline:
    """One test's deadline: state shared by the async guard and the watchdog thread."""

    def __init__(self, seconds: float, kill: Callable[[], None]) -> None:
        self.seconds = seconds
        self.kill = kill
        self.what: str | None = None  # set when the deadline passed
        self._timer: threading.Timer | None = None

    @property
    def expired(self) -> bool:
        return self.what is not None

    def error(self) -> MachineTimeout:
        err = MachineTimeout(self.what or "the test to finish", self.seconds)
        err.add_note("driverkit killed the test's machine(s) at the deadline")
        return err

    def start_watchdog(self) -> None:
        def fire() -> None:
            if self.what is None:
                self.what = "the test, blocked in synchronous code, to finish"
            self.kill()

        self._timer = threading.Timer(self.seconds + WATCHDOG_GRACE, fire)
        self._timer.daemon = True
        self._timer.start()

    def stop_watchdog(self) -> None:
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
            self.kill()
            task.cancel()
            try:
                await asyncio.wait_for(task, 5.0)
            except BaseException:
                pass
            raise self.error()

        return guarded
