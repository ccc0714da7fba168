"""The QEMU process: spawned so it dies with us, watched for exit, always reaped.

Exit is observed through a pidfd on the event loop (async) and by `wait` with
a short timeout from synchronous code (a qtest read that hits EOF), so the
caller learns QEMU's exit status within a fraction of a second either way.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Callable

from ..errors import MachineDied

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


_SETPRIV = shutil.which("setpriv")


def qemu_children(parent: int | None = None) -> list[str]:
    """Running QEMU processes whose parent is `parent` (default: this process), as
    "pid N (comm)": what a leak check after a run looks for."""
    me, found = parent or os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, _, rest = text.partition("(")[2].rpartition(")")
        if rest.split()[1:2] == [str(me)] and comm.startswith("qemu-system"):
            found.append(f"pid {stat.parent.name} ({comm})")
    return found


def _spawn_argv(argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """argv and preexec_fn that make QEMU die with us.

    A preexec_fn forces a full fork of this (large) process, ~4-10 ms per launch; util-linux's
    setpriv sets the same parent-death signal and execs QEMU in the same process, so
    subprocess can use vfork. The preexec_fn stays as the fallback without setpriv.
    """
    if _SETPRIV is not None:
        return [_SETPRIV, "--pdeathsig", "KILL", "--", *argv], None
    return argv, _die_with_parent


class QemuProcess:
    """One running QEMU; stderr goes to a file so its tail can be shown when it dies."""

    def __init__(self, argv: list[str], pass_fds: list[int], stderr_path: Path) -> None:
        self.argv = argv
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")
        spawn, preexec = _spawn_argv(argv)
        try:
            self.proc = subprocess.Popen(
                spawn,
                stdin=subprocess.DEVNULL,
                stdout=self._stderr,
                stderr=self._stderr,
                pass_fds=pass_fds,
                preexec_fn=preexec,
            )
        finally:
            self._stderr.close()
        self.pid = self.proc.pid
        self._exited: asyncio.Future[int] | None = None
        self._pidfd: int | None = None
        self.expected_exit = False

    # --- exit observation -----------------------------------------------------------------

    def watch(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[int]:
        """A future that completes with the exit status when QEMU exits."""
        if self._exited is None:
            self._exited = loop.create_future()
            try:
                self._pidfd = os.pidfd_open(self.pid)
                loop.add_reader(self._pidfd, self._on_pidfd)
            except (OSError, AttributeError):  # no pidfd: poll instead
                loop.create_task(self._poll_exit())
        return self._exited

    def _on_pidfd(self) -> None:
        self._finish()

    async def _poll_exit(self) -> None:
        while self.proc.poll() is None:
            await asyncio.sleep(0.05)
        self._finish()

    def _finish(self) -> None:
        rc = self.proc.poll()
        if rc is None:
            return
        if self._pidfd is not None:
            asyncio.get_event_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self._exited is not None and not self._exited.done():
            self._exited.set_result(rc)

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def wait_exit(self, timeout: float) -> int | None:
        """Synchronously wait up to `timeout` s for exit; the status, or None if still running."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stderr_tail(self, lines: int = 20) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def died(self, what: str = "QEMU exited") -> MachineDied:
        """The MachineDied error describing the current exit status."""
        rc = self.proc.poll()
        sig = -rc if rc is not None and rc < 0 else None
        return MachineDied(what, returncode=rc, signal=sig, stderr_tail=self.stderr_tail())

    # --- shutdown -------------------------------------------------------------------------

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    async def terminate(self, grace: float = 2.0) -> int:
        """SIGTERM, then SIGKILL after `grace`; always reaps. Returns the exit status."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                break
            self.kill(sig)
            deadline = asyncio.get_running_loop().time() + wait
            while self.proc.poll() is None and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
        rc = self.proc.wait(5.0)
        self._finish()
        return rc
