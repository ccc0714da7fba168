"""Machine: one QEMU, its QMP session, qtest channel, shared RAM and serial console.

`async with Machine(spec) as m:` launches QEMU, connects everything, and tears it
all down on exit — QMP `quit`, then SIGTERM, then SIGKILL, always reaped, the
private temp dir removed — also when the body raises or QEMU crashes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

from qemu.qmp import QMPClient

from ..elf import ElfImage
from ..errors import (
    MachineDied,
    MachineError,
    MachineTimeout,
    QmpError,
)
from ..io.dma import DmaPool
from ..io.iomem import IoMem
from ..io.resource import Resource, ResourceTree
from ..io.trace import Trace
from ..pci.bus import PciBus
from ..pci.firmware import wait_for_firmware
from ..transport.guest_errors import GuestErrorLog
from ..transport.mtree import FlatView
from ..transport.qtest import PortBus, QtestBus, QtestChannel
from ..transport.shm import SharedRam
from .addrspace import AddressSpace
from .argv import Channels, build_argv
from .console import SerialConsole
from .firmware import write_bare_firmware
from .irq import IrqMonitor
from .pcihost import MachinePciHost
from .process import QemuProcess
from .spec import MachineSpec

PAGE = 4096
QUIT_GRACE = 2.0
CREATED_DIRS: list[Path] = []
"""Every private dir this process made for a machine (a leak check looks them up after a run)."""


def _sweep_stale(base: str) -> None:
    """Remove machine dirs whose Python process was killed outright (SIGKILL skips cleanup)."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if len(parts) < 3 or parts[0] != "driverkit" or not parts[1].isdigit():
            continue
        try:
            os.kill(int(parts[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
        except OSError:
            pass


def _private_dir() -> Path:
    """A 0700 temp dir, on /dev/shm when it exists so the RAM backend file lives in memory.

    Its name carries our pid, so a later run can sweep dirs left by a killed process.
    """
    usable = os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK)
    base = "/dev/shm" if usable else tempfile.gettempdir()
    _sweep_stale(base)
    path = Path(tempfile.mkdtemp(prefix=f"driverkit-{os.getpid()}-", dir=base))
    CREATED_DIRS.append(path)
    return path


def _emergency_cleanup(proc: QemuProcess | None, tmp: Path | None) -> None:
    """Last resort when a Machine is dropped unclosed: kill QEMU, remove its files."""
    if proc is not None:
        proc.kill()
        proc.wait_exit(5.0)
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


class Machine:
    """A running QEMU machine. Use as `async with Machine(MachineSpec(...)) as m`."""

    def __init__(self, spec: MachineSpec | None = None, **fields: Any) -> None:
        if spec is not None and fields:
            spec = spec.with_(**fields)
        self.spec = spec or MachineSpec(**fields)
        self.io_timeout = 5.0
        self.trace = Trace()
        self.console = SerialConsole()
        self.irq = IrqMonitor(self)
        self.qmp = QMPClient(f"driverkit-{os.getpid()}")
        self.events: list[dict] = []
        self.tmpdir: Path | None = None
        self.process: QemuProcess | None = None
        self.qtest: QtestChannel | None = None
        self.space = AddressSpace(self.trace, has_ports=self.spec.arch == "x86_64",
                                  guard=self.check_alive)
        self.firmware_ready = False
        """A real firmware's PCI assignment is complete (set by pci.wait_for_firmware)."""
        self._socks: list[socket.socket] = []
        self._exit: asyncio.Future[int] | None = None
        self._pci = None
        self._dma = None
        self._finalizer: weakref.finalize | None = None
        self._closed = False
        self._ram_fd: int | None = None
        self._event_task: asyncio.Task | None = None
        self.accel_reason = f"accel {self.spec.accel} requested"
        self.guest_errors: GuestErrorLog | None = None
        """QEMU's log of accesses it rejected (bad width, unassigned): see transport.guest_errors"""

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> "Machine":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Launch QEMU and connect QMP, qtest and the serial console within the deadline."""
        try:
            await asyncio.wait_for(self._start(), self.spec.startup_timeout)
        except asyncio.TimeoutError:
            await self.close()
            raise MachineTimeout("QEMU to start and answer QMP and qtest",
                                 self.spec.startup_timeout) from None
        except BaseException:
            await self.close()
            raise

    async def _start(self) -> None:
        if self.spec.accel == "auto":
            await self._resolve_accel()
        spec = self.spec
        self.tmpdir = _private_dir()
        self.console = SerialConsole(self.tmpdir / "serial.log")
        ours: list[socket.socket] = []
        theirs: list[socket.socket] = []
        self._socks = ours  # closed by _release, whatever happens below
        try:  # QEMU's ends are ours to close until it inherits them (or fails to start)
            for _ in range(3):
                a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                ours.append(a)
                theirs.append(b)
            bios = None
            if spec.firmware == "bare":
                bios = write_bare_firmware(spec.arch, self.tmpdir)
            elif spec.firmware not in ("seabios", "direct"):
                bios = Path(spec.firmware)
            ram_path = None
            if spec.shared_ram:
                ram_path = self.tmpdir / "ram"
                self._ram_fd = os.open(ram_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                os.ftruncate(self._ram_fd, spec.memory_bytes)
            self.guest_errors = GuestErrorLog(self.tmpdir / "guest-errors.log")
            channels = Channels(theirs[0].fileno(), theirs[1].fileno(), theirs[2].fileno(),
                                bios, ram_path, self.guest_errors.path)
            argv = build_argv(spec, channels)
            (self.tmpdir / "cmdline").write_text(" ".join(argv) + "\n")
            self.process = QemuProcess(argv, [s.fileno() for s in theirs],
                                       self.tmpdir / "qemu.stderr")
        finally:
            for s in theirs:
                s.close()
        self._finalizer = weakref.finalize(self, _emergency_cleanup, self.process, self.tmpdir)
        loop = asyncio.get_running_loop()
        self._exit = self.process.watch(loop)
        self._exit.add_done_callback(self._on_exit)

        await self._until_alive(self.qmp.connect(ours[0]), "the QMP handshake")
        self._event_task = loop.create_task(self._collect_events())
        self._loop, self._loop_thread = loop, threading.get_ident()
        self.qtest = QtestChannel(ours[1], timeout=self.io_timeout, on_closed=self._channel_closed,
                                  on_posted=self._schedule_flush)
        self.qtest.add_irq_listener(self.trace.irq)
        self.qtest.add_irq_listener(self.irq._on_level)
        loop.add_reader(ours[1].fileno(), self._poll_qtest)
        await self.console.attach(ours[2], self._death_error)
        self.qtest.sync()
        await self.refresh_memory_map()
        shm = None
        if spec.shared_ram and self._ram_fd is not None:
            shm = SharedRam(self._ram_fd, spec.memory_bytes, [], fence=self.qtest.fence)
            os.unlink(ram_path)  # both sides hold it open; nothing is left behind on a crash
        self.space.attach(QtestBus(self.qtest),
                          PortBus(self.qtest) if spec.arch == "x86_64" else None, shm)
        self.space.build_resources()
        if spec.firmware == "seabios":
            # Let SeaBIOS finish assigning BARs before anyone touches config space.
            await wait_for_firmware(self)

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
        """Await `coro`, but fail with MachineDied as soon as QEMU exits."""
        assert self._exit is not None
        task = asyncio.ensure_future(coro)
        done, _ = await asyncio.wait({task, self._exit}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            if task.exception() is not None and self.process is not None:
                # A channel failing (EOF) usually means QEMU is on its way out: say so.
                if self.process.wait_exit(1.5) is not None:
                    raise self.process.died(f"QEMU exited while waiting for {what}") \
                        from task.exception()
            return task.result()
        task.cancel()
        try:
            await task
        except BaseException:
            pass
        raise self._death_error() or MachineDied(f"QEMU exited while waiting for {what}")

    async def _collect_events(self) -> None:
        try:
            async for event in self.qmp.events:
                self.events.append(dict(event))
        except (asyncio.CancelledError, Exception):
            pass

    def _on_exit(self, fut: asyncio.Future) -> None:
        for s in self._socks:  # wake any reader blocked on a channel
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.irq._wake()

    def _poll_qtest(self) -> None:
        if self.qtest is None:
            return
        self.qtest.poll_async()
        if self.qtest.closed:
            asyncio.get_running_loop().remove_reader(self._socks[1].fileno())

    def _death_error(self) -> MachineDied | None:
        """MachineDied if QEMU has exited (or is about to), else None."""
        if self.process is None:
            return None
        if self.process.returncode is None and not (self.qtest and self.qtest.closed):
            return None
        self.process.wait_exit(1.5)
        if self.process.returncode is None:
            return None
        return self.process.died()

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
        self.process.wait_exit(1.5)
        if self.process.returncode is None:
            return MachineDied(f"QEMU closed the qtest channel {what} but is still running",
                               stderr_tail=self.process.stderr_tail())
        return self.process.died(f"QEMU exited {what}")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None and not self._closed

    def check_alive(self) -> None:
        """Raise MachineDied if QEMU is gone."""
        if self.process is None:
            raise MachineError("machine not started")
        if self.process.returncode is not None:
            raise self.process.died()

    async def close(self) -> None:
        """Quit QEMU (QMP quit, SIGTERM, SIGKILL), reap it, remove sockets and temp files."""
        if self._closed:
            return
        self._closed = True
        proc = self.process
        try:
            if proc is not None and proc.returncode is None and self.qmp.runstate.name == "RUNNING":
                try:
                    await asyncio.wait_for(self.qmp.execute("quit"), QUIT_GRACE)
                except BaseException:
                    pass
                for _ in range(int(QUIT_GRACE / 0.01)):
                    if proc.returncode is not None:
                        break
                    await asyncio.sleep(0.01)
            if proc is not None:
                await proc.terminate()
        finally:
            await self._release()

    async def _release(self) -> None:
        if self._event_task is not None:
            self._event_task.cancel()
        try:
            await asyncio.wait_for(self.qmp.disconnect(), 2.0)
        except BaseException:
            pass
        if self._socks and self.qtest is not None and not self.qtest.closed:
            try:
                asyncio.get_running_loop().remove_reader(self._socks[1].fileno())
            except (ValueError, OSError):
                pass
        await self.console.close()
        self.space.unmap_all()
        if self.space.shm is not None:
            self.space.shm.close()
        if self._ram_fd is not None:
            os.close(self._ram_fd)
            self._ram_fd = None
        for s in self._socks:
            s.close()
        if self._finalizer is not None:
            self._finalizer()  # kills (already reaped) and removes the temp dir
        elif self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        if self._dma is not None:
            self._dma.report_leaks()

    # --- QMP helpers ------------------------------------------------------------------------

    async def execute(self, cmd: str, args: dict | None = None, timeout: float = 10.0) -> Any:
        """A QMP command with a deadline; QEMU dying turns into MachineDied.

        Posted qtest writes are drained first, so QEMU has done them before the command.
        """
        self.check_alive()
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
        self.check_alive()
        assert self.qtest is not None
        self.qtest.sync()

    async def hmp(self, command: str, timeout: float = 10.0) -> str:
        """A human monitor command (read-only use: info ...), through QMP."""
        return str(await self.execute("human-monitor-command", {"command-line": command}, timeout))

    async def mtree_text(self) -> str:
        return await self.hmp("info mtree -f")

    async def refresh_memory_map(self) -> FlatView:
        """Re-read QEMU's flat memory view (what backs each address)."""
        self.space.set_flat(FlatView.parse(await self.mtree_text()))
        return self.space.flat

    # --- the physical address space (machine/addrspace.py holds the logic) --------------------

    @property
    def flat(self) -> FlatView:
        """QEMU's flat view of the memory address space, as last read."""
        return self.space.flat

    @property
    def resources(self) -> ResourceTree:
        """The resource tree (what /proc/iomem would show)."""
        return self.space.resources

    @property
    def shm(self) -> SharedRam | None:
        """The shared RAM mapping (None with shared_ram=False)."""
        return self.space.shm

    def add_mmio_overlay(self, key: object, start: int, size: int) -> None:
        """Tell the router that [start, start+size) is now device MMIO (e.g. an enabled BAR)."""
        self.space.add_mmio_overlay(key, start, size)

    def remove_mmio_overlay(self, key: object) -> None:
        self.space.remove_mmio_overlay(key)

    def backing(self, addr: int) -> str:
        """What backs a guest-physical address: "RAM", "ROM", "MMIO" or "none"."""
        return self.space.backing(addr)

    def unbacked(self, start: int, size: int) -> list[tuple[int, int]]:
        """Sub-ranges of [start, start+size) that neither QEMU's map nor an enabled BAR backs."""
        return self.space.unbacked(start, size)

    def ioremap(self, phys: int, size: int, *, allow_unbacked: bool = False,
                name: str = "") -> IoMem:
        """Map [phys, phys+size) like the kernel's ioremap: page-granular, checked, traced.

        RAM goes through shared memory when enabled, everything else through qtest.
        Ranges nothing backs are refused unless allow_unbacked=True.
        """
        return self.space.ioremap(phys, size, allow_unbacked=allow_unbacked, name=name)

    def iounmap(self, iomem: IoMem) -> None:
        """Unmap; later accesses through `iomem` raise MappingError."""
        self.space.iounmap(iomem)

    def ioport_map(self, port: int, size: int, *, name: str = "") -> IoMem:
        """An IoMem over x86 I/O ports [port, port+size) (the kernel's ioport_map)."""
        return self.space.ioport_map(port, size, name=name)

    def read_phys(self, addr: int, n: int) -> bytes:
        """Bulk read of guest-physical memory (shared RAM when possible, else qtest)."""
        return self.space.read_phys(addr, n)

    def write_phys(self, addr: int, data: bytes) -> None:
        """Bulk write of guest-physical memory (used by ELF loading and DMA buffers)."""
        self.space.write_phys(addr, data)

    def load_elf(self, path: str | Path) -> ElfImage:
        """Write an ELF's PT_LOAD segments into guest memory (.bss zeroed); returns the ElfImage."""
        return ElfImage.open(path).load(self)

    def request_mem_region(self, start: int, size: int, name: str) -> Resource:
        """Claim a region like the kernel: nests under non-busy regions, refuses busy ones."""
        return self.space.request_mem_region(start, size, name)

    def release_mem_region(self, res: Resource) -> None:
        self.space.release_mem_region(res)

    def iomem(self) -> str:
        """The resource tree as /proc/iomem text."""
        return self.space.resources.render()

    # --- higher layers (lazy) -----------------------------------------------------------------

    @property
    def pci(self) -> PciBus:
        """The PCI bus (enumerated on first use)."""
        if self._pci is None:
            self.check_alive()
            self._pci = PciBus.for_host(MachinePciHost(self))
        return self._pci

    @property
    def dma(self) -> DmaPool:
        """The DMA buffer pool (`m.dma.alloc(size, align)`; region chosen on first use)."""
        if self._dma is None:
            self._dma = DmaPool(self.space, self.space.resources,
                                guest_kernel=bool(self.spec.kernel),
                                firmware_guard=self.spec.firmware != "bare")
        return self._dma

    def __repr__(self) -> str:
        state = "running" if self.alive else "stopped"
        return f"<Machine {self.spec.arch} {self.spec.machine} {self.spec.memory_bytes >> 20}M {state}>"
