"""driverkit.firmware.FirmwareMailbox against the firmware under real QEMU (q35, SeaBIOS,
multiboot): published state through ioremap, every command, error replies, deadlines."""

from __future__ import annotations

import errno
import os
import zlib

import pytest
import pytest_asyncio

from driverkit import Machine
from driverkit.elf import ElfImage
from driverkit.errors import ConfigError, MachineTimeout, MailboxError
from driverkit.firmware import Command, FirmwareMailbox, FwState, firmware_spec

MiB = 1 << 20
EDU_ID = 0x010000ED

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fw(fw_elf):
    """One booted firmware shared by this module; tests leave it serving."""
    async with Machine(firmware_spec("mem=200M carveout=1M", machine="q35", memory="256M",
                                     devices=("edu",), path=fw_elf)) as m:
        mbox = await FirmwareMailbox.attach(m, timeout=20)
        yield mbox
        mbox.close()


async def test_attach_reads_the_published_carveout(fw):
    img = ElfImage.open(fw.machine.spec.kernel)
    assert (fw.base, fw.size, fw.align, fw.mem_limit) == (200 * MiB - MiB, MiB, 4096, 200 * MiB)
    assert fw.state is FwState.READY
    # the values came through ioremaps of the symbols' own addresses and sizes
    for name in ("carveout_base", "mailbox", "fw_state"):
        io = fw._vars[name]
        assert (io.phys, io.size) == (img.symbols[name].address, img.symbols[name].size)
    assert (fw.carveout.phys, fw.carveout.size) == (fw.base, fw.size)
    hdr = fw.header()
    assert (hdr.magic, hdr.version, hdr.header_size) == (0x424D4B44, 1, 0x48)


async def test_echo_round_trip(fw):
    before = fw.header().served
    reply = await fw.echo(1, 0xDEADBEEF, 0xFFFFFFFF, 42, data=b"ping")
    assert reply.status == 0 and reply.command == Command.ECHO
    assert reply.ret == (1, 0xDEADBEEF, 0xFFFFFFFF, 42) and reply.data == b"ping"
    assert fw.header().served == before + 1 and reply.seq == fw.header().done


async def test_crc32_of_a_buffer_written_through_the_carveout_mapping(fw):
    payload = os.urandom(48 * 1024)
    fw.carveout.write(0x10000, payload)
    assert await fw.crc32(0x10000, len(payload)) == zlib.crc32(payload)


async def test_info_and_edu_factorial(fw):
    info = await fw.info()
    assert (info.base, info.size, info.mem_limit, info.align) == (fw.base, MiB, 200 * MiB, 4096)
    edu = await fw.edu_factorial(10)
    assert (edu.value, edu.device_id, edu.bar0, edu.assigned_bar) == (3628800, EDU_ID,
                                                                       0xFEA00000, False)
    assert (await fw.edu_factorial(13)).value == 6227020800 & 0xFFFFFFFF   # 32-bit register


async def test_firmware_rejects_a_range_outside_the_carveout(fw):
    with pytest.raises(MailboxError, match=r"CRC32\(0xffff0, 0x11\).*-34 \(-ERANGE\)") as exc:
        await fw.crc32(fw.size - 16, 17)
    assert exc.value.code == -errno.ERANGE and exc.value.ret == (0, 0, 0, 0)
    assert (await fw.echo(5)).ret[0] == 5                     # still serving


async def test_firmware_rejects_an_unknown_command(fw):
    with pytest.raises(MailboxError, match="ENOSYS") as exc:
        await fw.request(0x7777)
    assert exc.value.code == -errno.ENOSYS and exc.value.ret[0] == 0x7777
    await fw.machine.console.expect("cmd 0x7777 status 38 (error)", timeout=5)
    reply = await fw.request(0x7777, check=False)             # the raw reply on request
    assert reply.status == -errno.ENOSYS


async def test_bad_requests_are_refused_before_the_doorbell(fw):
    served = fw.header().served
    with pytest.raises(ConfigError, match="257 bytes"):
        await fw.echo(data=bytes(257))
    with pytest.raises(ConfigError, match="at most 4"):
        await fw.echo(1, 2, 3, 4, 5)
    with pytest.raises(ConfigError, match="u32"):
        await fw.echo(-1)
    assert fw.header().served == served


async def test_deadline_then_the_late_answer_is_absorbed(fw):
    """A stopped VM never answers: MachineTimeout names the request; once it runs again the
    next request waits for the stale one, then gets its own answer."""
    await fw.machine.execute("stop")
    try:
        with pytest.raises(MachineTimeout, match=r"answer request \d+, ECHO\(0x9\)"):
            await fw.echo(9, timeout=0.2)
    finally:
        await fw.machine.execute("cont")
    reply = await fw.echo(10, data=b"after")
    assert reply.ret[0] == 10 and reply.data == b"after"
