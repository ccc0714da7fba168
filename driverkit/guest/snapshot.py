"""Snapshot-forked Linux guests: boot the guest once, save it, start every later machine from
the save instead of booting (about 0.05-0.1x a cold boot to a shell: scripts/bench `guest`).

Mechanism (stock QEMU 7.2; chosen by measurement, see docs/snapshots.md):
- The template boots with its RAM in a shared file (driverkit's shared RAM), reaches the
  shell, is stopped and migrated to a file with the capability x-ignore-shared: the stream
  holds device state only (~300 KB); the RAM is written beside it as a sparse image.
- A fork maps that image copy-on-write (memory-backend-file share=off, the same backend id):
  nothing is copied at start, pages come from the page cache when touched and are copied on
  their first write, so every fork starts from the same bytes and none sees another's writes.
  It starts with `-incoming defer`, loads the device state (x-ignore-shared: RAM is already
  there) and continues.
A fork's RAM is private to its QEMU, so driverkit reaches it through qtest (no shared RAM):
correct, slower for bulk RAM reads.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

from ..errors import GuestError, MachineError, MachineTimeout
from ..machine.argv import RAM_BACKEND_ID
from ..machine.machine import Machine
from ..machine.spec import MachineSpec
from .report import GuestReport
from .shell import GuestShell, Shell

SAVE_TIMEOUT = 60.0
RESTORE_TIMEOUT = 30.0
CHUNK = 1 << 16  # granularity of the sparse RAM image: all-zero chunks stay holes
_IGNORE_SHARED = [{"capability": "x-ignore-shared", "state": True}]


def _scratch_dir() -> Path:
    """A private dir on tmpfs if there is one (the image then lives in the page cache)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    return Path(tempfile.mkdtemp(prefix="driverkit-snapshot-", dir=base))


async def wait_for_migration(m: Machine, timeout: float, what: str) -> dict[str, Any]:
    """Poll query-migrate until the migration completed; raise on failure or at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        st = await m.execute("query-migrate")
        status = st.get("status")
        if status == "completed":
            return dict(st)
        if status in ("failed", "cancelled"):
            raise MachineError(f"{what}: migration {status}: {st.get('error-desc', 'no reason')}")
        if loop.time() > deadline:
            raise MachineTimeout(f"{what} (migration status {status!r})", timeout)
        await asyncio.sleep(0.005)


def _write_sparse(ram: Any, path: Path) -> int:
    """Write guest RAM (a buffer) to `path`, leaving all-zero chunks as holes; bytes written."""
    zero = bytes(CHUNK)
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, len(ram))
        with memoryview(ram) as view:
            for off in range(0, len(view), CHUNK):
                with view[off:off + CHUNK] as chunk:
                    if chunk != zero:
                        os.pwrite(fd, chunk, off)
                        written += len(chunk)
    finally:
        os.close(fd)
    return written


class LinuxSnapshot:
    """A booted guest saved to files: device state + a sparse RAM image. `fork()` starts one."""

    def __init__(self, spec: MachineSpec, directory: Path, report: GuestReport,
                 ram_bytes: int, state_bytes: int) -> None:
        self.spec = spec
        self.directory = directory
        self.report = report  # what the guest reported at its (only) boot
        self.ram_bytes = ram_bytes
        self.state_bytes = state_bytes
        self._cleanup = weakref.finalize(self, shutil.rmtree, directory, True)

    @property
    def state_path(self) -> Path:
        return self.directory / "state"

    @property
    def ram_path(self) -> Path:
        return self.directory / "ram"

    @classmethod
    async def take(cls, spec: MachineSpec, *, boot_timeout: float = 120.0) -> LinuxSnapshot:
        """Boot `spec` (a linux_guest_spec) to its shell once and save it."""
        directory = _scratch_dir()
        try:
            async with Machine(spec.with_(shared_ram=True)) as m:
                shell = GuestShell(m.console)
                report = await shell.wait_ready(boot_timeout)
                await shell.run("true", check=True)  # the shell answers before it is saved
                await m.execute("stop")
                await m.execute("migrate-set-capabilities", {"capabilities": _IGNORE_SHARED})
                state = directory / "state"
                await m.execute("migrate", {"uri": f"exec:cat > {shlex.quote(str(state))}"})
                await wait_for_migration(m, SAVE_TIMEOUT, "saving the guest snapshot")
                if m.shm is None:
                    raise GuestError("the snapshot template has no shared RAM to save")
                ram = _write_sparse(m.shm.mm, directory / "ram")
            return cls(spec, directory, report, ram, state.stat().st_size)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise

    def fork_spec(self) -> MachineSpec:
        """The spec of a fork: the template's, RAM mapped copy-on-write from the image."""
        mib = self.spec.memory_bytes >> 20
        extra = (*self.spec.extra_args,
                 "-object", f"memory-backend-file,id={RAM_BACKEND_ID},size={mib}M,"
                            f"mem-path={self.ram_path},share=off",
                 "-machine", f"memory-backend={RAM_BACKEND_ID}",
                 "-incoming", "defer")
        return self.spec.with_(shared_ram=False, extra_args=extra)

    def fork(self) -> ForkedMachine:
        """A machine that starts (`async with`) from this snapshot, with `.shell`."""
        if not self.state_path.exists():
            raise GuestError(f"snapshot {self.directory} was removed")
        return ForkedMachine(self)

    def remove(self) -> None:
        self._cleanup()

    def __repr__(self) -> str:
        return (f"<LinuxSnapshot {self.spec.machine} {self.spec.memory_bytes >> 20}M: "
                f"{self.ram_bytes >> 20} MiB RAM, {self.state_bytes >> 10} KiB state>")


class ForkedMachine(Machine):
    """A Machine started from a LinuxSnapshot instead of booting; `shell` runs commands."""

    def __init__(self, snapshot: LinuxSnapshot) -> None:
        super().__init__(snapshot.fork_spec())
        self.snapshot = snapshot
        self._shell: Shell | None = None

    @property
    def shell(self) -> Shell:
        """The guest's shell (`await m.shell.run("uname -r") -> str`)."""
        if self._shell is None:
            raise MachineError("the forked machine has not been started")
        return self._shell

    async def start(self) -> None:
        self.firmware_ready = True  # the firmware finished before the snapshot was taken
        await super().start()
        try:
            await self._resume()
        except BaseException:
            await self.close()
            raise

    async def _resume(self) -> None:
        await self.execute("migrate-set-capabilities", {"capabilities": _IGNORE_SHARED})
        state = shlex.quote(str(self.snapshot.state_path))
        await self.execute("migrate-incoming", {"uri": f"exec:cat {state}"})
        await wait_for_migration(self, RESTORE_TIMEOUT, "restoring the guest snapshot")
        # the memory map and resources were read before the device state arrived
        await self.refresh_memory_map()
        self.space.build_resources()
        await self.execute("cont")
        self._shell = Shell(self.console)
