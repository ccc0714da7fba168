"""Machine: the public face of one QEMU — its session, address space, PCI bus and DMA pool.

`async with Machine(spec) as m:` launches QEMU, connects everything, and tears it
all down on exit. The parts live where they are named: machine/session.py (the
process, QMP, qtest, serial, shared RAM and the machine's life), machine/addrspace.py
(routing, ioremap, resources); PCI and DMA are made on first use.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from pathlib import Path
from typing import Any, Self

from ..elf import ElfImage
from ..errors import (
    ArgumentTypeError,
    ClockError,
    ConfigError,
    DriverkitError,
    MachineError,
    MachineTimeout,
)
from ..io.dma import DmaPool
from ..io.iomem import IoMem
from ..io.resource import Resource, ResourceTree
from ..io.trace import Trace
from ..pci.bus import PciBus
from ..pci.firmware import wait_for_firmware
from ..transport.guest_errors import POLICIES, RejectionCheck
from ..transport.mtree import FlatView
from ..transport.qtest import PortBus, QtestBus
from ..transport.shm import SharedRam
from .addrspace import AddressSpace
from .boards import qtest_address_space
from .clock import SteppedClock
from .irq import IrqMonitor
from .pcihost import MachinePciHost
from .session import QemuSession, weak_callback
from .spec import MachineSpec
from .state import MachineState
from .workdir import CREATED_DIRS

__all__ = ["CREATED_DIRS", "Machine", "MachineState"]
log = logging.getLogger("driverkit.machine")

PAGE = 4096
RUNSTATE_EVENTS = ("STOP", "RESUME", "GUEST_PANICKED")
RESET_TIMEOUT = 5.0
DEFAULT_ACCESS_CHECK = "error"
"""A read QEMU refused raises InvalidWidth unless check_accesses says otherwise."""


def _from_session(name: str, doc: str, settable: bool = False) -> Any:
    """A Machine attribute that lives on its QemuSession."""

    def get(self: "Machine") -> Any:
        return getattr(self.session, name)

    def put(self: "Machine", value: Any) -> None:
        setattr(self.session, name, value)

    return property(get, put if settable else None, doc=doc)


READ_ONLY_QMP = ("qom-list", "qom-get", "qmp_capabilities", "query-", "x-query-")


def _read_only(cmd: str, args: dict | None) -> bool:
    """True for QMP commands that cannot change the memory map (queries, `info ...`)."""
    if cmd == "human-monitor-command":
        line = str((args or {}).get("command-line", "")).lstrip()
        return line.startswith("info ")
    return cmd.startswith(READ_ONLY_QMP)


class Machine:
    """A running QEMU machine. Use as `async with Machine(MachineSpec(...)) as m`.

    Its state (`m.state`) is one of not started, starting, running, closing, closed,
    died; every public call checks it and says what it found. A Machine runs once.
    """

    def __init__(self, spec: MachineSpec | None = None, **fields: Any) -> None:
        if spec is not None and not isinstance(spec, MachineSpec):
            raise ArgumentTypeError(f"Machine(spec) needs a MachineSpec, got "
                                    f"{type(spec).__name__}")
        if spec is not None and fields:
            spec = spec.with_(**fields)
        spec = spec or MachineSpec(**fields)
        self.trace = Trace()
        self.irq = IrqMonitor(self)
        self.session = QemuSession(spec, self.trace, on_irq=self.irq._on_level,
                                   on_exit=self.irq._wake, on_release=self._release_space,
                                   on_event=self._on_event)
        self.space = AddressSpace(self.trace, has_ports=spec.arch == "x86_64",
                                  guard=weak_callback(self.check_alive))  # see _setup
        self.firmware_ready = False
        """A real firmware's PCI assignment is complete (set by pci.wait_for_firmware)."""
        self._pci: PciBus | None = None
        self._dma: DmaPool | None = None
        self._finalizer = weakref.finalize(self, self.session.held.release)
        self._clock: SteppedClock | None = None
        self._access_check: RejectionCheck | None = None
        self._access_policy: str | None = DEFAULT_ACCESS_CHECK

    # --- the session: process, QMP, channels, state (machine/session.py) --------------------

    spec = _from_session("spec", "What was launched (accel 'auto' resolved at start).")
    life = _from_session("life", "The machine's Lifecycle (state and transitions).")
    process = _from_session("process", "The QemuProcess (None before start).")
    qmp = _from_session("qmp", "The qemu.qmp client, for anything else.")
    qtest = _from_session("qtest", "The qtest channel (None before start).")
    monitor = _from_session("monitor", "The synchronous QMP monitor (None before start).")
    console = _from_session("console", "The serial console.")
    events = _from_session("events", "QMP events received, in order.")
    tmpdir = _from_session("tmpdir", "The machine's private dir.")
    accel_reason = _from_session("accel_reason", "Why this accelerator was chosen.")
    guest_errors = _from_session("guest_errors", "QEMU's log of accesses it rejected.")
    io_timeout = _from_session("io_timeout", "Deadline in s for each qtest reply.", settable=True)

    @property
    def state(self) -> MachineState:
        """not started, starting, running, closing, closed or died."""
        return self.session.state

    @property
    def alive(self) -> bool:
        return self.session.alive

    def check_alive(self, what: str = "this call") -> None:
        """Raise unless the machine is running: MachineDied if QEMU is gone, else
        MachineStateError naming `what` and the state found."""
        self.session.check_alive(what)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Launch QEMU and connect everything within the spec's startup deadline."""
        await self.session.start(self._setup)

    async def _setup(self, mtree_text: str, shm: SharedRam | None) -> None:
        qtest, monitor = self.session.qtest, self.session.monitor
        assert qtest is not None and monitor is not None
        space_name = qtest_address_space(self.spec.arch)
        self.space.address_space = space_name
        # every qtest write, raw ones too; the space holds this Machine only weakly (its guard),
        # so the channel, which the event loop keeps, keeps no dropped Machine alive
        qtest.on_write = self.space.note_write
        self.space.attach(QtestBus(qtest), PortBus(qtest) if self.spec.arch == "x86_64" else None,
                          shm, lambda: monitor.hmp("info mtree -f"),
                          FlatView.parse(mtree_text, space_name))
        step, gdb = self.session.step_firmware, self.session.gdb_sock
        if step is not None:
            self.space.reserved = [(step.mailbox, step.mailbox_size, "driverkit stepping mailbox")]
        self.space.build_resources()
        if self.guest_errors is not None:
            self._access_check = RejectionCheck(self.guest_errors, "error",
                                                weak_callback(self._locate), qtest,
                                                self.trace.recent_writes)
            self._arm_check()
        if step is not None and gdb is not None and self.process is not None:
            self._clock = SteppedClock(self, step, self.spec.clock_shift, gdb)
            await asyncio.to_thread(self._clock.attach, self.process.pid)
        if self.spec.firmware == "seabios":
            # Let SeaBIOS finish assigning BARs before anyone touches config space.
            await wait_for_firmware(self)
            self.space.invalidate()  # it also shadowed its ROM (PAM) and set up SMRAM

    def _on_event(self, event: dict) -> None:
        if event.get("event") in RUNSTATE_EVENTS:
            return  # a clock step stops and resumes the VM; the map stays as it was
        try:
            self.space.invalidate()  # RESET, DEVICE_DELETED, ...: the map may differ now
        except DriverkitError as exc:  # QEMU going away: the next access says so
            log.debug("%s: re-reading the map after %s: %r", self.life.name,
                      event.get("event"), exc)

    async def close(self) -> None:
        """Quit QEMU (QMP quit, SIGTERM, SIGKILL), reap it, remove sockets and temp files.

        Failures on the way are logged; cancellation still releases everything
        (synchronously) and then propagates.
        """
        await self.session.close()

    def _release_space(self) -> None:
        self.space.unmap_all()
        if self._dma is not None:
            self._dma.report_leaks()

    async def reset(self, timeout: float = RESET_TIMEOUT) -> None:
        """System reset: devices and CPUs back to power-on state; the machine stays up.

        Everything this Machine built is dropped too: mappings are unmapped, BAR
        overlays and resource claims forgotten, the PCI bus enumerated afresh and the
        DMA pool remade on next use, firmware-ready state cleared (SeaBIOS is awaited
        again), IRQ levels cleared. Guest RAM is kept, as on real hardware.
        """
        self.check_alive("Machine.reset")
        seen = len(self.events)
        await self.execute("system_reset", timeout=timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not any(e.get("event") == "RESET" for e in self.events[seen:]):
            self.check_alive("Machine.reset")
            if loop.time() > deadline:
                raise MachineTimeout("QEMU's RESET event after system_reset", timeout)
            await asyncio.sleep(0.002)
        assert self.qtest is not None
        self.qtest.sync()
        if self._dma is not None:
            self._dma.report_leaks()
        self._pci = None
        self._dma = None
        self.firmware_ready = False
        self.irq.levels.clear()
        self.irq.counts.clear()
        self.space.reset()  # re-reads the map, seeds the resource tree afresh
        log.info("%s: reset", self.life.name)
        if self.spec.firmware == "seabios":
            await wait_for_firmware(self)

    # --- QMP helpers ------------------------------------------------------------------------

    async def execute(self, cmd: str, args: dict | None = None, timeout: float = 10.0) -> Any:
        """A QMP command with a deadline; QEMU dying turns into MachineDied.

        Posted qtest writes are drained first, so QEMU has done them before the command.
        A command that is not a query marks the memory map stale (it may map or unmap).
        """
        if _read_only(cmd, args):
            return await self.session.execute(cmd, args, timeout)
        self.space.stale = True  # re-read after it (below), not before it has run
        try:
            return await self.session.execute(cmd, args, timeout)
        finally:
            self.space.invalidate()

    def sync_posted(self) -> None:
        """Wait until QEMU has done every posted write (an error one met is raised here, and
        under check_accesses a write QEMU refused)."""
        self.session.sync_posted()
        self._settle()

    def sync(self) -> None:
        """Drain posted writes and flush QEMU's pending IRQ lines (one qtest round trip);
        under check_accesses a posted write QEMU refused is reported here."""
        self.session.sync()
        self._settle()

    def _settle(self) -> None:
        if self.trace.check is not None and self._access_check is not None:
            self._access_check.settle()

    async def hmp(self, command: str, timeout: float = 10.0) -> str:
        """A human monitor command (read-only use: info ...), through QMP."""
        return await self.session.hmp(command, timeout)

    async def mtree_text(self) -> str:
        return await self.hmp("info mtree -f")

    async def refresh_memory_map(self) -> FlatView:
        """Re-read QEMU's flat memory view now (accesses do it by themselves when needed)."""
        self.check_alive("Machine.refresh_memory_map")
        return self.space.refresh()

    # --- the physical address space (machine/addrspace.py holds the logic) --------------------

    @property
    def flat(self) -> FlatView:
        """QEMU's flat view of the memory address space (re-read first if it may have changed)."""
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

    def check_accesses(self, policy: str | None = "warn") -> None:
        """What a read QEMU refused does (a width the device does not take, nothing there: QEMU
        answers 0 over qtest, e.g. a 16-bit read of the HPET). QEMU's -d guest_errors log is
        looked at after every ioremap/ioport read and at sync() (one lseek when nothing was
        logged): "error" (the default) raises InvalidWidth on the read itself, "warn" issues a
        RejectedAccessWarning, None turns the check off. Writes are posted, so a write QEMU
        refused is reported at the next read or sync, as an earlier write named from QEMU's
        log line; a refusal that is neither (the guest's CPU, a raw qtest call) only warns."""
        if policy is not None and policy not in POLICIES:
            raise ConfigError(f"access check policy {policy!r}: 'warn', 'error' or None")
        self._access_policy = policy
        if policy is None:
            self.trace.check = None
            return
        if self._access_check is None and self.state is MachineState.NOT_STARTED:
            return  # armed at start
        self.check_alive("check_accesses")
        if self._access_check is None:
            raise MachineError("this machine has no guest_errors log")
        self._arm_check()

    @property
    def access_policy(self) -> str | None:
        """What check_accesses set: "error" (the default), "warn" or None (off)."""
        return self._access_policy

    def _arm_check(self) -> None:
        check = self._access_check
        if check is None or self._access_policy is None:
            return
        if self.trace.check is None:
            check.log.take()  # what unchecked accesses left is not the next access's
        check.policy = self._access_policy
        self.trace.check = check.after_read  # a bound method: the cheapest call

    def _locate(self, space: str, addr: int) -> tuple[str, int] | None:
        """(region, offset in it) at `addr` as QEMU routes it now, to match its log lines."""
        if space == "io":
            text = self.monitor.hmp("info mtree -f") if self.monitor is not None else ""
            r = FlatView.parse(text, "I/O").find(addr)
        else:
            r = self.space.flat.find(addr)
        return (r.name, addr - r.start + r.offset) if r is not None else None

    def ioremap(self, phys: int, size: int, *, allow_unbacked: bool = False,
                name: str = "") -> IoMem:
        """Map [phys, phys+size) like the kernel's ioremap: page-granular, checked, traced.

        RAM goes through shared memory when enabled, everything else through qtest.
        Ranges nothing backs are refused unless allow_unbacked=True.
        """
        self.check_alive("Machine.ioremap")
        return self.space.ioremap(phys, size, allow_unbacked=allow_unbacked, name=name)

    def iounmap(self, iomem: IoMem) -> None:
        """Unmap; later accesses through `iomem` raise MappingError."""
        self.space.iounmap(iomem)

    def ioport_map(self, port: int, size: int, *, name: str = "") -> IoMem:
        """An IoMem over x86 I/O ports [port, port+size) (the kernel's ioport_map)."""
        self.check_alive("Machine.ioport_map")
        return self.space.ioport_map(port, size, name=name)

    def read_phys(self, addr: int, n: int) -> bytes:
        """Bulk read of guest-physical memory (shared RAM when possible, else qtest)."""
        self.check_alive("Machine.read_phys")
        return self.space.read_phys(addr, n)

    def write_phys(self, addr: int, data: bytes) -> None:
        """Bulk write of guest-physical memory (used by ELF loading and DMA buffers)."""
        self.check_alive("Machine.write_phys")
        self.space.write_phys(addr, data)

    def load_elf(self, path: str | Path) -> ElfImage:
        """Write an ELF's PT_LOAD segments into guest memory (.bss zeroed); returns the ElfImage."""
        self.check_alive("Machine.load_elf")
        return ElfImage.open(path).load(self)

    def request_mem_region(self, start: int, size: int, name: str) -> Resource:
        """Claim a region like the kernel: nests under non-busy regions, refuses busy ones."""
        self.check_alive("Machine.request_mem_region")
        return self.space.request_mem_region(start, size, name)

    def release_mem_region(self, res: Resource) -> None:
        self.space.release_mem_region(res)

    def iomem(self) -> str:
        """The resource tree as /proc/iomem text."""
        return self.space.resources.render()

    # --- virtual time (machine/clock.py) -----------------------------------------------------

    def _stepped(self, what: str) -> SteppedClock:
        if self._clock is None:
            raise ClockError(f"{what} needs MachineSpec(clock='stepped'); this machine's clock "
                             f"is {self.spec.clock!r} (virtual time follows the host)")
        self.check_alive()
        return self._clock

    def clock_step(self, ns: int | None = None) -> int:
        """Advance virtual time by exactly `ns` (no argument: to the next timer deadline);
        returns the virtual clock in ns. Timers due inside the step fire at their time."""
        if ns is None:
            return self.clock_step_next()
        return self._stepped("clock_step").step(ns)

    def clock_step_next(self) -> int:
        """Advance to QEMU's next timer deadline (qtest clock_step without an argument)."""
        self._stepped("clock_step_next")
        raise ClockError(
            "clock_step_next: stock QEMU 7.2 has no command that reports its timer deadlines "
            "(only the qtest accelerator does, which Debian does not ship), and a CPU idling "
            "for the deadline is warped past every timer that does not interrupt it, to a time "
            "not readable exactly from outside; step by the period you expect instead "
            "(docs/clock.md)")

    def clock_ns(self) -> int:
        """The virtual clock in ns (0 at launch: the VM starts stopped)."""
        return self._stepped("clock_ns").now_ns

    @property
    def clock(self) -> SteppedClock | None:
        """The stepped clock's mechanism (ns_per_insn, min_step_ns, max_step_ns, its firmware
        `fw` with the mailbox it uses), None under clock='realtime'."""
        return self._clock

    # --- higher layers (lazy) -----------------------------------------------------------------

    @property
    def pci(self) -> PciBus:
        """The PCI bus (enumerated on first use)."""
        if self._pci is None:
            self.check_alive("Machine.pci")
            self._settle()  # a refusal earlier writes met is reported, not dropped below
            self._pci = PciBus.for_host(MachinePciHost(self))
            if self.guest_errors is not None:  # where config space is was probed by reading
                self.guest_errors.take()  # (ECAM absent: "nothing mapped"): not the user's
        return self._pci

    @property
    def dma(self) -> DmaPool:
        """The DMA buffer pool (`m.dma.alloc(size, align)`; region chosen on first use)."""
        if self._dma is None:
            self.check_alive("Machine.dma")
            self._dma = DmaPool(self.space, self.space.resources,
                                guest_kernel=bool(self.spec.kernel),
                                firmware_guard=self.spec.firmware != "bare")
        return self._dma

    def __repr__(self) -> str:
        state = self.state.value
        return f"<Machine {self.spec.arch} {self.spec.machine} {self.spec.memory_bytes >> 20}M {state}>"
