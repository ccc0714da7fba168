"""SIGTERM ends a program like Ctrl-C, so machines are closed and nothing is left behind.

Python's default SIGTERM kills the process without running any `finally` or
`async with` exit: QEMU dies with us (PDEATHSIG) but its /dev/shm dir stays.
Installed once, in the main thread, only where nobody handles SIGTERM already.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

_installed = False


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):  # asyncio.run's handler cancels the main task, as for Ctrl-C
        handler(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt


def sigterm_like_ctrl_c() -> None:
    """Make SIGTERM behave like SIGINT for the rest of the process (once, main thread)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    signal.signal(signal.SIGTERM, _on_sigterm)
    _installed = True
