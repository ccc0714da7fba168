"""One QEMU and its channels: the private dir, the process, QMP, qtest, serial, shared RAM.

The session owns the machine's life (driverkit.machine.state): it launches QEMU and
connects everything within the deadline, notices QEMU exiting, and tears it all
down — QMP `quit`, then SIGTERM, then SIGKILL, always reaped, the dir removed —
also when a launch fails, the caller is cancelled, or its Machine is dropped
(every callback the event loop holds refers to it weakly; workdir.Leftovers is
what a finalizer releases). The Machine above adds the address space, PCI and DMA.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import threading
import weakref
from pathlib import Path
from typing import Any, Awaitable, Callable

from qemu.qmp import QMPClient

from ..errors import (
    MachineDied,
    MachineError,
    MachineStateError,
    MachineTimeout,
    QmpError,
)
from ..io.trace import Trace
from ..transport.guest_errors import GuestErrorLog
from ..transport.monitor import SyncMonitor
from ..transport.qtest import IrqListener, QtestChannel
from ..transport.shm import SharedRam
from .argv import Channels, build_argv
from .console import SerialConsole
from .firmware import boot_images
from .process import QemuProcess
from .signals import sigterm_like_ctrl_c
from .spec import MachineSpec
from .state import Lifecycle, MachineState
from .stepfw import StepFirmware
from .workdir import Leftovers, private_dir

log = logging.getLogger("driverkit.machine")

QUIT_GRACE = 2.0
_serial = itertools.count(1)

Setup = Callable[[str, "SharedRam | None"], Awaitable[None]]
"""Run by start() once QEMU answers: given QEMU's `info mtree -f` text and the shared RAM."""


def weak_callback(method: Callable[..., Any]) -> Callable[..., Any]:
    """`method`, held weakly: a callback for the event loop or a channel (which the loop
    keeps) that does not keep its Machine alive, so a dropped Machine is still reaped."""
    ref = weakref.WeakMethod(method)

    def call(*args: Any) -> Any:
        target = ref()
        return None if target is None else target(*args)

    return call


def _disconnect_later(qmp: QMPClient, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """For a Machine dropped unclosed: end qemu.qmp's tasks (they would stay pending)."""

    def run() -> None:
        if qmp.runstate.name != "IDLE":
            loop.create_task(qmp.disconnect())

    return run


async def _settle(task: asyncio.Future) -> None:
    """Finish a helper task (cancel it if still running) and retrieve its exception, so
    a failure the caller no longer waits for is never reported as 'never retrieved'."""
    if not task.done():
        task.cancel()
        await asyncio.wait({task})
    if not task.cancelled():
        task.exception()


async def _collect_events(qmp: QMPClient, on_event: Callable[[dict], None]) -> None:
    try:
        async for event in qmp.events:
            on_event(dict(event))
    except Exception as exc:  # the QMP connection ended; close() reports real failures
        log.debug("QMP event stream ended: %r", exc)


class QemuSession:
    """QEMU, QMP (`qmp`), qtest (`qtest`), the serial console and shared RAM (`shm`)."""

    def __init__(self, spec: MachineSpec, trace: Trace, *, on_irq: IrqListener,
                 on_exit: Callable[[], None], on_release: Callable[[], None],
                 on_event: Callable[[dict], None] | None = None) -> None:
        self.spec = spec
        self.life = Lifecycle(f"machine#{next(_serial)} ({spec.arch} {spec.machine})")
        self._io_timeout = 5.0
        self.trace = trace
        self.console = SerialConsole()
        self.qmp = QMPClient(f"driverkit-{os.getpid()}")
        self.events: list[dict] = []
        self.tmpdir: Path | None = None
        self.process: QemuProcess | None = None
        self.qtest: QtestChannel | None = None
        self.step_firmware: StepFirmware | None = None
        """The stepping firmware of clock="stepped" (its arithmetic), else None."""
        self.gdb_sock: socket.socket | None = None
        """Our end of the gdbstub socket of clock="stepped"."""
        self.monitor: SyncMonitor | None = None
        """A second QMP monitor, driven synchronously (the flat view is read through it)."""
        self.shm: SharedRam | None = None
        self.accel_reason = f"accel {spec.accel} requested"
        self.guest_errors: GuestErrorLog | None = None
        """QEMU's log of accesses it rejected (bad width, unassigned): see transport.guest_errors"""
        self.held = Leftovers()
        self._on_irq = on_irq
        self._on_exit_cb = on_exit
        self._on_release = on_release
        self._on_event_cb = on_event
        self._exit: asyncio.Future[int] | None = None
        self._event_task: asyncio.Task | None = None
        self._ended_by = ""
        self._eof_while_running = False

    # --- state ------------------------------------------------------------------------------

    @property
    def io_timeout(self) -> float:
        """Deadline in s for each qtest and monitor reply; a change reaches running channels."""
        return self._io_timeout

    @io_timeout.setter
    def io_timeout(self, value: float) -> None:
        self._io_timeout = value
        for channel in (self.qtest, self.monitor):
            if channel is not None:
                channel.timeout = value

    @property
    def state(self) -> MachineState:
        """Where the machine is in its life (QEMU exiting on its own is noticed here too)."""
        self._notice_exit()
        return self.life.state

    def _notice_exit(self) -> None:
        proc = self.process
        if (proc is not None and self.life.state in (MachineState.STARTING, MachineState.RUNNING)
                and proc.returncode is not None):
            why = self._ended_by or f"QEMU exited with status {proc.returncode}"
            self.life.to(MachineState.DIED, why)

    @property
    def alive(self) -> bool:
        return self.state is MachineState.RUNNING

    def check_alive(self, what: str = "this call") -> None:
        """Raise unless the machine is running: MachineDied if QEMU is gone, else
        MachineStateError naming `what` and the state found."""
        state = self.state
        if state in (MachineState.RUNNING, MachineState.STARTING):
            return
        if state is MachineState.DIED and self.process is not None:
            raise self.process.died(self._ended_by or "QEMU exited")
        self.life.require(what, MachineState.RUNNING)

    async def start(self, setup: Setup) -> None:
        """Launch QEMU, connect QMP, qtest and the serial console, then run `setup`, all
        within the deadline; on any failure everything is closed again."""
        if self.life.state is not MachineState.NOT_STARTED:
            raise MachineStateError(f"Machine.start: {self.life.name} is {self.life.state.value}; "
                                    "a Machine runs once, make a new Machine(spec) to start again")
        self.life.to(MachineState.STARTING)
        sigterm_like_ctrl_c()
        try:
            await asyncio.wait_for(self._start(setup), self.spec.startup_timeout)
        except MachineError:
            await self.close()
            raise
        except asyncio.TimeoutError:
            await self.close()
            raise MachineTimeout("QEMU to start and answer QMP and qtest",
                                 self.spec.startup_timeout) from None
        except BaseException:
            await self.close()
            raise
        if self.state is MachineState.DIED:
            err = self._death_error() or MachineDied("QEMU exited during start")
            await self.close()
            raise err
        assert self.process is not None
        self.life.to(MachineState.RUNNING, f"QEMU pid {self.process.pid}")

    async def _start(self, setup: Setup) -> None:
        if self.spec.accel == "auto":
            await self._resolve_accel()
        spec, held = self.spec, self.held
        self.tmpdir = held.tmpdir = private_dir()
        self.console = SerialConsole(self.tmpdir / "serial.log")
        ours: list[socket.socket] = []
        theirs: list[socket.socket] = []
        ram_fd = None
        try:  # QEMU's ends are ours to close until it inherits them (or fails to start)
            # QMP, qtest, serial, the synchronous monitor, and the gdbstub of a stepped clock
            for _ in range(5 if spec.clock == "stepped" else 4):
                a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                ours.append(a)
                held.socks.append(a)
                theirs.append(b)
            images = await asyncio.to_thread(boot_images, spec, self.tmpdir)
            self.step_firmware = images.step
            self.gdb_sock = ours[4] if len(ours) > 4 else None
            ram_path = None
            if spec.shared_ram:
                ram_path = self.tmpdir / "ram"
                ram_fd = os.open(ram_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                held.fds.append(ram_fd)
                os.ftruncate(ram_fd, spec.memory_bytes)
            self.guest_errors = GuestErrorLog(self.tmpdir / "guest-errors.log")
            held.closers.append(self.guest_errors.close)  # its fd, opened at the first look
            channels = Channels(theirs[0].fileno(), theirs[1].fileno(), theirs[2].fileno(),
                                images.bios, ram_path, self.guest_errors.path,
                                monitor_fd=theirs[3].fileno(),
                                gdb_fd=theirs[4].fileno() if len(theirs) > 4 else None,
                                kernel=images.kernel)
            argv = build_argv(spec, channels)
            (self.tmpdir / "cmdline").write_text(" ".join(argv) + "\n")
            self.process = held.process = QemuProcess(argv, [s.fileno() for s in theirs],
                                                      self.tmpdir / "qemu.stderr")
        finally:
            for s in theirs:
                s.close()
        log.debug("%s: QEMU pid %d: %s", self.life.name, self.process.pid, " ".join(argv))
        loop = asyncio.get_running_loop()
        self._exit = self.process.watch(loop)
        self._exit.add_done_callback(weak_callback(self._on_exit))

        await self._until_alive(self.qmp.connect(ours[0]), "the QMP handshake")
        self._event_task = loop.create_task(
            _collect_events(self.qmp, weak_callback(self._on_event)))
        # QEMU's memory map is read while qtest and the serial port are set up (one QMP round
        # trip off the launch path).
        mtree = loop.create_task(self.hmp("info mtree -f"))
        try:
            self._loop, self._loop_thread = loop, threading.get_ident()
            self.qtest = qtest = QtestChannel(ours[1], timeout=self.io_timeout,
                                              on_closed=weak_callback(self._channel_closed),
                                              on_posted=weak_callback(self._schedule_flush))
            qtest.add_irq_listener(self.trace.irq)
            qtest.add_irq_listener(weak_callback(self._on_irq))
            fd = ours[1].fileno()

            def poll_qtest() -> None:  # holds the channel, not the Machine
                qtest.poll_async()
                if qtest.closed:
                    loop.remove_reader(fd)

            loop.add_reader(fd, poll_qtest)
            held.readers.append((loop, fd))
            await self.console.attach(ours[2], weak_callback(self._death_error))
            held.loop = loop
            held.on_loop += [self._event_task.cancel, self.console.detach,
                             _disconnect_later(self.qmp, loop)]
            qtest.sync()
            mtree_text = await mtree
        finally:
            await _settle(mtree)
        self.monitor = SyncMonitor(ours[3], timeout=self.io_timeout,
                                   on_closed=weak_callback(self._channel_closed))
        if ram_fd is not None and ram_path is not None:
            self.shm = SharedRam(ram_fd, spec.memory_bytes, [], fence=qtest.fence)
            held.closers.append(self.shm.close)  # a dropped machine's too, without waiting for gc
            os.unlink(ram_path)  # both sides hold it open; nothing is left behind on a crash
        await setup(mtree_text, self.shm)

    async def _resolve_accel(self) -> None:
        """accel="auto": KVM only where a probe guest really runs on it (cached), else TCG."""
        from .kvm import probe_kvm

        usable = False
        if self.spec.arch == "x86_64":
            usable, why = await probe_kvm()
        else:
            why = "KVM here runs x86_64 guests only"
        self.accel_reason = why
        self.spec = self.spec.with_(accel="kvm" if usable else "tcg")

    async def _until_alive(self, coro: Any, what: str) -> Any:
        """Await `coro`, but fail with MachineDied as soon as QEMU exits.

        The inner task is always finished (cancelled and awaited) before this returns, so
        its exception is retrieved even when a deadline cancels us.
        """
        assert self._exit is not None
        task = asyncio.ensure_future(coro)
        try:
            done, _ = await asyncio.wait({task, self._exit}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _settle(task)
        if task in done:
            if task.exception() is not None and self.process is not None:
                # A channel failing (EOF) usually means QEMU is on its way out: say so.
                if self.process.wait_exit(1.5) is not None:
                    raise self.process.died(f"QEMU exited while waiting for {what}") \
                        from task.exception()
            return task.result()
        raise self._death_error() or MachineDied(f"QEMU exited while waiting for {what}")

    def _on_event(self, event: dict) -> None:
        self.events.append(event)
        if self._on_event_cb is not None:
            self._on_event_cb(event)
        data = event.get("data") or {}
        if event.get("event") == "RESET" and data.get("guest") and self.spec.kernel:
            # A Linux guest resets itself on a panic (panic=-1) or a reboot: that ends it,
            # as -no-reboot did, while a host's system_reset keeps the machine up.
            self._ended_by = (f"the guest reset itself ({data.get('reason', 'reboot')}: a kernel "
                              "panic with panic=-1, or a reboot)")
            log.info("%s: %s; stopping QEMU", self.life.name, self._ended_by)
            if self.process is not None:
                self.process.kill()

    def _on_exit(self, fut: asyncio.Future) -> None:
        for s in self.held.socks:  # wake any reader blocked on a channel
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._notice_exit()
        self._on_exit_cb()

    def _death_error(self) -> MachineDied | None:
        """MachineDied if QEMU has exited (or is about to), else None."""
        if self.process is None:
            return None
        if self.process.returncode is None and not (self.qtest and self.qtest.closed):
            return None
        self.process.wait_exit(1.5)
        if self.process.returncode is None:
            return None
        return self.process.died(self._ended_by or "QEMU exited")

    def _schedule_flush(self) -> None:
        """Posted writes were buffered: send them at the loop's next turn (any await)."""
        assert self.qtest is not None
        try:
            if threading.get_ident() == self._loop_thread:
                self._loop.call_soon(self.qtest.flush_posted)
            else:
                self._loop.call_soon_threadsafe(self.qtest.flush_posted)
        except RuntimeError:  # the loop is closed: the next read or drain sends them
            pass

    def _channel_closed(self, what: str) -> Exception:
        assert self.process is not None
        if not self._eof_while_running:  # EOF usually means QEMU is on its way out: wait once
            self.process.wait_exit(1.5)
        if self.process.returncode is None:
            self._eof_while_running = True
            return MachineError(f"the qtest channel closed (end of file) {what} while QEMU "
                                "still runs: the machine cannot be driven any more; close it")
        return self.process.died(f"QEMU exited {what}" + (f" ({self._ended_by})"
                                                          if self._ended_by else ""))

    async def close(self) -> None:
        """Quit QEMU (QMP quit, SIGTERM, SIGKILL), reap it, remove sockets and temp files.

        Failures on the way are logged; cancellation still releases everything
        (synchronously) and then propagates.
        """
        state = self.state
        if state in (MachineState.CLOSING, MachineState.CLOSED):
            return
        if state is MachineState.NOT_STARTED:
            self.life.to(MachineState.CLOSED, "never started")
            return
        self.life.to(MachineState.CLOSING)
        try:
            await self._quit()
            await self._disconnect()
        except Exception:
            log.warning("%s: closing failed; killing QEMU", self.life.name, exc_info=True)
        finally:
            self._release()
            self.life.to(MachineState.CLOSED)

    async def _quit(self) -> None:
        proc = self.process
        if proc is None:
            return
        if proc.returncode is None and self.qmp.runstate.name == "RUNNING":
            try:
                await asyncio.wait_for(self.qmp.execute("quit"), QUIT_GRACE)
            except asyncio.TimeoutError:
                log.warning("%s: QMP quit got no answer in %g s", self.life.name, QUIT_GRACE)
            except Exception as exc:  # QEMU closing QMP while it answers is normal
                log.debug("%s: QMP quit: %r", self.life.name, exc)
            if self._exit is not None and not self._exit.done():
                try:
                    await asyncio.wait_for(asyncio.shield(self._exit), QUIT_GRACE)
                except asyncio.TimeoutError:
                    log.warning("%s: QEMU did not exit %g s after quit; SIGTERM",
                                self.life.name, QUIT_GRACE)
        await proc.terminate()

    async def _disconnect(self) -> None:
        if self._event_task is not None:
            self._event_task.cancel()
            await asyncio.wait({self._event_task})
        try:
            await asyncio.wait_for(self.qmp.disconnect(), 2.0)
        except Exception as exc:  # the peer is gone; the socket is closed in _release
            log.debug("%s: QMP disconnect: %r", self.life.name, exc)
        await self.console.close()

    def _release(self) -> None:
        """Everything outside Python: synchronous, so a cancelled close still does it."""
        try:
            self._on_release()  # the Machine's mappings first: they use the channels
        finally:
            if self.shm is not None:
                self.shm.close()
            self.held.release()  # kill if alive, close fds, remove the dir

    async def execute(self, cmd: str, args: dict | None = None, timeout: float = 10.0) -> Any:
        """A QMP command with a deadline; QEMU dying turns into MachineDied.

        Posted qtest writes are drained first, so QEMU has done them before the command.
        """
        self.check_alive(f"QMP {cmd}")
        self.sync_posted()
        try:
            return await asyncio.wait_for(self._until_alive(self.qmp.execute(cmd, args), cmd),
                                          timeout)
        except asyncio.TimeoutError:
            raise MachineTimeout(f"QMP {cmd}", timeout) from None
        except MachineError:
            raise
        except Exception as exc:  # qemu.qmp ExecuteError (QEMU dying is handled by _until_alive)
            raise QmpError(f"QMP {cmd} failed: {exc}") from exc

    def sync_posted(self) -> None:
        """Wait until QEMU has done every posted write (an error one met is raised here)."""
        if self.qtest is not None and not self.qtest.closed:
            self.qtest.drain()

    def sync(self) -> None:
        """Drain posted writes and flush QEMU's pending IRQ lines (one qtest round trip)."""
        self.check_alive("Machine.sync")
        assert self.qtest is not None
        self.qtest.sync()

    async def hmp(self, command: str, timeout: float = 10.0) -> str:
        """A human monitor command (read-only use: info ...), through QMP."""
        return str(await self.execute("human-monitor-command", {"command-line": command}, timeout))

