"""Stepped virtual time on stock QEMU (no qtest accelerator): icount + a counting firmware.

How a step of N ns works (docs/clock.md has the measurements):
- QEMU runs with `-icount shift=S,sleep=off -S`: QEMU_CLOCK_VIRTUAL is 2**S ns per executed
  guest instruction, frozen while the VM is stopped, and timers fire at their exact
  instruction boundary, in order.
- The stepping firmware (stepfw.py) executes exactly N >> S instructions and then stops the VM
  from the guest (pvpanic on x86, a gdb semihosting call on Arm). On A/R-profile CPUs the
  firmware also stores the generic timer's count, and every step checks it. The gdbstub, on a
  socketpair we own, resumes the VM and reports the stop, synchronously.
- QEMU warps the virtual clock to the next timer deadline whenever all vCPUs are idle while the
  VM counts as running (icount_start_warp_timer in the main loop). A guest-initiated stop
  leaves that window open: the vCPU marks itself stopped before the main loop has processed
  the stop request. Measured: without countermeasure ~98% of the steps gained a warp (x86 q35:
  +27.46 ms, the PIT's next edge). The countermeasure is scheduling: all QEMU threads share
  one host CPU and the main loop thread runs SCHED_FIFO, so it takes the big QEMU lock as soon
  as the vCPU's stopping I/O releases it, and handles the stop while the vCPU still counts as
  busy. Measured: 0 warps in thousands of steps, also with a CPU hog on the machine.
"""

from __future__ import annotations

import os
import resource
import socket
import time
from typing import TYPE_CHECKING

from ..errors import ClockError, MachineDied, MachineTimeout
from .stepfw import StepFirmware

if TYPE_CHECKING:
    from ..transport.qtest import QtestChannel
    from .machine import Machine

#: host instructions per second we assume at least when bounding a step's wait
MIN_GUEST_IPS = 5_000_000
STEP_GRACE = 10.0


def _checksum(data: bytes) -> bytes:
    return b"%02x" % (sum(data) & 0xFF)


class GdbLink:
    """The smallest synchronous gdb remote client: packets out, stop and F packets in."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = b""

    def send(self, payload: str) -> None:
        data = payload.encode()
        self.sock.sendall(b"$" + data + b"#" + _checksum(data))

    def recv(self, deadline: float) -> str:
        """The next packet's payload ('+' acks and '-' skipped)."""
        while True:
            start = self._buf.find(b"$")
            if start >= 0:
                end = self._buf.find(b"#", start)
                if end >= 0 and len(self._buf) >= end + 3:
                    payload = self._buf[start + 1:end]
                    self._buf = self._buf[end + 3:]
                    self.sock.sendall(b"+")  # QEMU 7.2 has no no-ack mode
                    return payload.decode(errors="replace")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                raise TimeoutError from None
            if not chunk:
                raise EOFError
            self._buf += chunk

    def request(self, payload: str, deadline: float) -> str:
        self.send(payload)
        return self.recv(deadline)


def qemu_threads(pid: int) -> dict[int, str]:
    """tid -> thread name of a running process (QEMU names them with debug-threads=on)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                out[int(tid)] = f.read().strip()
        except OSError:
            pass
    return out


class SteppedClock:
    """m.clock_step / clock_ns for MachineSpec(clock="stepped")."""

    def __init__(self, machine: "Machine", firmware: StepFirmware, shift: int,
                 sock: socket.socket) -> None:
        self._m = machine
        self.fw = firmware
        self.shift = shift
        self.gdb = GdbLink(sock)
        self.now_ns = 0
        self.steps = 0
        self._pending_f = False  # a semihosting F request waits for our reply
        self.host_cpu: int | None = None

    @property
    def ns_per_insn(self) -> int:
        return 1 << self.shift

    @property
    def min_step_ns(self) -> int:
        return self.fw.min_insns << self.shift

    @property
    def max_step_ns(self) -> int:
        return self.fw.max_insns << self.shift

    def attach(self, pid: int, timeout: float = 5.0) -> None:
        """Pin QEMU to one host CPU, give its main loop SCHED_FIFO, open the gdb session."""
        threads = qemu_threads(pid)
        if not any("CPU" in name for name in threads.values()):  # "ALL CPUs/TCG" under icount
            raise ClockError(f"no vCPU thread found in QEMU {pid} ({sorted(threads.values())})")
        cpus = sorted(os.sched_getaffinity(0))
        self.host_cpu = cpus[pid % len(cpus)]
        try:
            for tid in threads:
                os.sched_setaffinity(tid, {self.host_cpu})
            os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(1))
        except PermissionError as exc:
            rtprio = resource.getrlimit(resource.RLIMIT_RTPRIO)[0]
            raise ClockError(
                "clock='stepped' runs QEMU's main loop SCHED_FIFO, which needs CAP_SYS_NICE "
                f"(root) or an RLIMIT_RTPRIO of at least 1 (sched(7); this process has {rtprio}: "
                "`ulimit -r`, an `rtprio` line in /etc/security/limits.conf): without it the "
                "virtual clock jumps to the next timer deadline at most stops (measured: nice "
                f"or SCHED_IDLE for the vCPU thread do not prevent it) ({exc})"
            ) from exc
        deadline = time.monotonic() + timeout
        reply = self.gdb.request("?", deadline)  # the initial stop reply (VM stopped by -S)
        if not reply.startswith(("T", "S")):
            raise ClockError(f"QEMU's gdbstub answered {reply!r} to '?'")

    def _qtest(self) -> "QtestChannel":
        """The raw qtest channel, for the mailbox: RAM only the firmware uses (its writes are
        RAM by the flat view, so the channel's write hook lets them through after one range
        compare; no `info mtree -f` re-read per step)."""
        ch = self._m.qtest
        if ch is None:
            raise ClockError("the machine has no qtest channel (not started)")
        return ch

    def validate(self, ns: object) -> int:
        """The instruction count for a step of `ns`, or a ClockError saying what is allowed."""
        if isinstance(ns, bool) or not isinstance(ns, int):
            raise ClockError(f"clock_step needs an int number of ns, got {ns!r}")
        if ns < 0:
            raise ClockError(f"clock_step({ns}): virtual time does not run backwards")
        if ns == 0:
            return 0
        if ns % self.ns_per_insn:
            raise ClockError(
                f"clock_step({ns}): with icount shift {self.shift} time moves in steps of "
                f"{self.ns_per_insn} ns; {ns} is not a multiple (MachineSpec clock_shift=0 "
                "gives 1 ns)")
        if ns < self.min_step_ns:
            raise ClockError(
                f"clock_step({ns}): the shortest step is {self.min_step_ns} ns "
                f"({self.fw.min_insns} instructions of the stepping firmware)")
        if ns > self.max_step_ns:
            raise ClockError(f"clock_step({ns}): at most {self.max_step_ns} ns per step")
        return ns >> self.shift

    def step(self, ns: int) -> int:
        insns = self.validate(ns)
        if insns == 0:
            return self.now_ns
        m = self._m
        m.check_alive()
        self._qtest().write_bytes(self.fw.mailbox, self.fw.mailbox_bytes(insns))
        m.sync()
        deadline = time.monotonic() + STEP_GRACE + insns / MIN_GUEST_IPS
        try:
            if self._pending_f:
                self.gdb.send("F1")  # answers the semihosting write; QEMU resumes the VM
            else:
                self.gdb.send("c")
            reply = self.gdb.recv(deadline)
        except TimeoutError:
            raise MachineTimeout(f"a clock step of {ns} ns ({insns} instructions)",
                                 deadline - time.monotonic() + STEP_GRACE) from None
        except (EOFError, OSError) as exc:
            if m.process is not None:
                m.process.wait_exit(1.5)
            m.check_alive("a clock step")  # MachineDied with QEMU's stderr when it is gone
            raise MachineDied(f"the gdbstub closed during a clock step: {exc}") from exc
        self._pending_f = reply.startswith("F")
        expect = "F" if self.fw.stop == "semihost" else "T"
        if not reply.startswith(expect):
            raise ClockError(f"clock step ended with gdb packet {reply!r}, expected {expect}...: "
                             "the guest left the stepping firmware")
        self.now_ns += ns
        self.steps += 1
        if self.fw.counter_hz:
            self._check_counter()
        m.sync()  # IRQ lines the step raised arrive before the sync's reply
        return self.now_ns

    def _check_counter(self) -> None:
        """A/R profile: the generic timer count the firmware stored must say the time we
        claim (at its resolution), or the step is reported instead of returned."""
        fw = self.fw
        got = int.from_bytes(self._qtest().read_bytes(fw.counter_addr, 8), "little")
        want = fw.expected_count(self.now_ns, self.shift)
        if got != want:
            raise ClockError(
                f"clock step to {self.now_ns} ns: the CPU's generic timer reads {got} "
                f"({fw.counter_hz} Hz), {want} expected: virtual time moved by something other "
                "than the executed instructions (an icount warp?)")
