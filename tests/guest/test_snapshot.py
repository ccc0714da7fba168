"""Snapshot-forked Linux guests (driverkit.guest.snapshot): one boot, then forks that start
from the saved guest. Each fork starts from the same bytes and keeps its writes to itself,
also while two forks run at once."""

from __future__ import annotations

import os

import pytest
import pytest_asyncio

from driverkit.errors import ArtifactMissing, GuestCommandFailed, GuestError
from driverkit.guest import linux_guest_spec
from driverkit.guest.snapshot import LinuxSnapshot

LOW_PAGE = 0x9000  # below 64 KiB: memblock keeps it from the kernel, so writing it is harmless

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def snapshot():
    try:
        spec = linux_guest_spec(machine="q35", memory="192M")
    except ArtifactMissing as exc:
        pytest.skip(f"Linux guest not built: {exc}")
    snap = await LinuxSnapshot.take(spec)
    yield snap
    snap.remove()
    assert not snap.directory.exists()
    with pytest.raises(GuestError, match="was removed"):
        snap.fork()


async def test_the_snapshot_holds_device_state_and_a_sparse_ram_image(snapshot):
    assert snapshot.report.meminfo["MemTotal"] > 0        # the boot's own report is kept
    size = snapshot.ram_path.stat().st_size
    used = snapshot.ram_path.stat().st_blocks * 512
    assert size == 192 << 20 and 0 < used < size          # zero chunks stayed holes
    assert snapshot.ram_bytes <= used and snapshot.state_bytes < 4 << 20


async def test_forks_run_at_once_and_keep_their_writes_to_themselves(snapshot):
    async with snapshot.fork() as a, snapshot.fork() as b:
        assert a.shm is None and a.spec.shared_ram is False     # RAM is the fork's private copy
        original = a.read_phys(LOW_PAGE, 64)
        assert b.read_phys(LOW_PAGE, 64) == original
        a.write_phys(LOW_PAGE, b"\xa5" * 64)
        assert a.read_phys(LOW_PAGE, 64) == b"\xa5" * 64
        assert b.read_phys(LOW_PAGE, 64) == original            # b never sees a's write
        await a.shell.run("echo from-a > /tmp/mark")
        assert await a.shell.run("cat /tmp/mark") == "from-a\n"
        with pytest.raises(GuestCommandFailed, match="exited with status 1"):
            await b.shell.run("cat /tmp/mark")
        assert (await b.shell.result("cat /tmp/mark")).status == 1
    async with snapshot.fork() as c:                            # nor does a later fork
        assert c.read_phys(LOW_PAGE, 64) == original
        assert (await c.shell.result("test -e /tmp/mark")).status == 1
        assert await c.shell.run("uname -s") == "Linux\n"
    assert os.path.getsize(snapshot.ram_path) == 192 << 20     # the image is untouched
    assert not a.alive and not b.alive and not c.alive
