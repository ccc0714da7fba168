"""The bare-metal firmware under real QEMU (q35 + SeaBIOS + multiboot -kernel): carve-out
placement and the mailbox protocol, spoken through the addresses and layout in the ELF."""

from __future__ import annotations

import os
import zlib

import pytest
import pytest_asyncio

from driverkit import Machine, MachineSpec
from driverkit.elf import ElfImage
from driverkit.mem.memblock import Memblock
from elf_fw_mailbox import (CMD_CRC32, CMD_ECHO, CMD_EDU_FACTORIAL, CMD_INFO, FW_FAILED, FW_READY,
                            FirmwareMailbox, read_u, wait_state)

MiB = 1 << 20
EDU_ID = 0x010000ED


def _spec(fw, append: str, devices=("edu",)) -> MachineSpec:
    return MachineSpec(firmware="seabios", kernel=str(fw), append=append, devices=list(devices),
                       memory="256M")


def _usable_ram(serial: str) -> list[tuple[int, int]]:
    """The firmware's own print-out of the multiboot map: [(start, end_exclusive)] usable."""
    out = []
    for line in serial.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "mmap" and parts[2] == "usable":
            lo, hi = (int(x, 16) for x in parts[1].split("-"))
            out.append((lo, hi + 1))
    return out


def _expected_carveout(ram, limit: int, size: int, align: int, image: tuple[int, int]) -> int:
    """The same request put to driverkit.mem's memblock model, on the map the firmware saw."""
    mb = Memblock()
    for lo, hi in ram:
        mb.add(lo, hi - lo)
    mb.remove(limit, (1 << 64) - limit)
    mb.trim_memory()
    mb.reserve(0, MiB)
    mb.reserve(image[0], image[1] - image[0])
    found = mb.find_top_down(size, align, end=limit)
    assert found is not None, "the model finds no room"
    return found


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(firmware_path):
    """One booted firmware shared by the mailbox tests (they leave no state behind but `served`)."""
    img = ElfImage.open(firmware_path)
    async with Machine(_spec(firmware_path, "mem=200M carveout=1M")) as m:
        await m.console.expect("driverkit-fw: mailbox ready", timeout=20)
        assert await wait_state(m, img) == FW_READY
        yield m, img, FirmwareMailbox(m, img)


# module-scoped async fixture and its tests share one event loop
pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_carveout_honours_mem_and_is_published(served):
    m, img, mb = served
    # mem=200M on x86 is a maximum address: the carve-out ends exactly there, 1 MiB long
    assert (mb.base, mb.size) == (200 * MiB - MiB, MiB)
    assert read_u(m, img, "mem_limit") == 200 * MiB
    assert read_u(m, img, "mailbox") == mb.base
    hdr = mb.header()
    assert (hdr.version, hdr.header_size) == (1, img.struct("mailbox").fields[-1].offset)
    assert "carveout 0xc700000 size 0x100000 align 0x1000" in m.console.text


async def test_echo(served):
    _, _, mb = served
    before = mb.header().served
    reply = await mb.request(CMD_ECHO, (1, 0xDEADBEEF, 0xFFFFFFFF, 42), data=b"ping")
    assert reply.status == 0
    assert reply.ret == [1, 0xDEADBEEF, 0xFFFFFFFF, 42]
    assert reply.data == b"ping"
    assert mb.header().served == before + 1


async def test_crc32_of_a_buffer_in_the_carveout(served):
    m, _, mb = served
    payload = os.urandom(64 * 1024)
    m.write_phys(mb.base + 0x10000, payload)
    reply = await mb.request(CMD_CRC32, (0x10000, len(payload)))
    assert reply.status == 0
    assert reply.ret[:2] == [zlib.crc32(payload), len(payload)]


async def test_crc32_outside_the_carveout_is_refused(served):
    _, _, mb = served
    reply = await mb.request(CMD_CRC32, (mb.size - 16, 17))
    assert reply.status == -34                        # -ERANGE
    assert reply.ret == [0, 0, 0, 0]


async def test_unknown_command_gets_an_error_reply(served):
    m, _, mb = served
    reply = await mb.request(0x7777)
    assert reply.status == -38                        # -ENOSYS
    assert reply.ret[0] == 0x7777
    await m.console.expect("cmd 0x7777 status 38 (error)", timeout=5)


async def test_info(served):
    _, _, mb = served
    reply = await mb.request(CMD_INFO)
    assert reply.status == 0 and reply.ret == [mb.base, mb.size, 200 * MiB, 4096]


async def test_firmware_programs_edu_factorial(served):
    _, _, mb = served
    reply = await mb.request(CMD_EDU_FACTORIAL, (10,))
    assert reply.status == 0
    value, bar0, dev_id, flags = reply.ret
    assert value == 3628800 and dev_id == EDU_ID
    assert bar0 == 0xFEA00000 and not flags & (1 << 16)   # SeaBIOS assigned BAR0 on q35
    reply = await mb.request(CMD_EDU_FACTORIAL, (13,))
    assert reply.ret[0] == 6227020800 & 0xFFFFFFFF        # edu's factorial wraps at 32 bits


async def test_firmware_assigns_an_unassigned_bar(served):
    """Zero edu's BAR0 through config mechanism #1 while the firmware idles; it must reassign."""
    m, _, mb = served
    cfg = m.ioport_map(0xCF8, 8, name="pci-conf1")
    bdf = None
    for dev in range(32):
        cfg.writel(0, 0x80000000 | dev << 11)
        if cfg.readl(4) == 0x11E81234:
            bdf = dev << 3
            break
    assert bdf is not None
    cfg.writel(0, 0x80000000 | bdf << 8 | 0x10)
    original = cfg.readl(4)
    cfg.writel(4, 0)
    reply = await mb.request(CMD_EDU_FACTORIAL, (5,))
    assert reply.status == 0 and reply.ret[0] == 120 and reply.ret[2] == EDU_ID
    assert reply.ret[1] == 0xE0000000 and reply.ret[3] == bdf | 1 << 16
    await m.console.expect("assigned 0xe0000000", timeout=5)
    cfg.writel(0, 0x80000000 | bdf << 8 | 0x10)
    assert cfg.readl(4) & ~0xF == 0xE0000000
    cfg.writel(4, original)                               # leave the shared machine as found


# --- separate boots: command-line variants ------------------------------------------------------


async def test_carveout_placement_matches_memblock_rule(firmware_path):
    img = ElfImage.open(firmware_path)
    image = (img.symbols["_image_start"].address, img.symbols["_image_end"].address)
    async with Machine(_spec(firmware_path, "mem=0x9180000 carveout=3M align=2M", ())) as m:
        await m.console.expect("mailbox ready", timeout=20)
        base, size = read_u(m, img, "carveout_base"), read_u(m, img, "carveout_size")
        expected = _expected_carveout(_usable_ram(m.console.text), 0x9180000, 3 * MiB, 2 * MiB, image)
        # round_down(0x9180000 - 3M = 0x8e80000, 2M) = 0x8e00000: aligned, below the limit, not the image
        assert base == expected == 0x8E00000 and size == 3 * MiB
        mb = FirmwareMailbox(m, img)
        reply = await mb.request(CMD_INFO)
        assert reply.ret == [0x8E00000, 3 * MiB, 0x9180000, 2 * MiB]


async def test_octal_trap_in_mem_leaves_no_room(firmware_path):
    """mem=0248M is octal 024 = 20 bytes (parsing stops at '8'), as Linux's memparse reads it."""
    img = ElfImage.open(firmware_path)
    async with Machine(_spec(firmware_path, "mem=0248M", ())) as m:
        await m.console.expect("FAILED", timeout=20)
        assert await wait_state(m, img) == FW_FAILED
        assert read_u(m, img, "mem_limit") == 20
        assert "no usable RAM range below the limit fits the carve-out" in m.console.text


async def test_bad_alignment_is_refused(firmware_path):
    img = ElfImage.open(firmware_path)
    async with Machine(_spec(firmware_path, "carveout=1M align=3M", ())) as m:
        assert await wait_state(m, img) == FW_FAILED
        await m.console.expect("align= must be a power of two", timeout=5)


async def test_load_elf_into_a_parked_machine(firmware_path):
    """ElfImage.load through Machine.write_phys: segments land at their paddr, .bss is zeroed."""
    img = ElfImage.open(firmware_path)
    async with Machine(MachineSpec()) as m:                 # bare: the CPU is parked, RAM is ours
        lo = min(s.paddr for s in img.segments)
        hi = max(s.paddr + s.memsz for s in img.segments)
        m.write_phys(lo, b"\xAA" * (hi - lo))
        assert img.load(m) is img
        for seg in img.segments:
            assert m.read_phys(seg.paddr, seg.filesz) == img.segment_bytes(seg)
            tail = seg.memsz - seg.filesz
            assert m.read_phys(seg.paddr + seg.filesz, tail) == bytes(tail)
        assert read_u(m, img, "fw_protocol_version") == 1     # initialised .data
        assert read_u(m, img, "carveout_base") == 0           # .bss


@pytest.mark.parametrize("align, placed", [(4096, True), (MiB, False)])
async def test_carveout_never_overlaps_the_firmware_image(firmware_path, align, placed):
    """mem=2M leaves [1M, 2M): the image sits at its bottom. With 1 MiB alignment the only
    candidate, 0x100000, is the image itself, so there is no room; with 4 KiB it fits above."""
    img = ElfImage.open(firmware_path)
    image_end = img.symbols["_image_end"].address
    size = 2 * MiB - image_end - 0x8000                  # fits between the image and the limit
    async with Machine(_spec(firmware_path, f"mem=2M carveout={size:#x} align={align:#x}", ())) as m:
        state = await wait_state(m, img)
        if placed:
            assert state == FW_READY
            base = read_u(m, img, "carveout_base")
            assert base == (2 * MiB - size) // align * align and base >= image_end
        else:
            assert state == FW_FAILED and read_u(m, img, "carveout_base") == 0
            await m.console.expect("no usable RAM range below the limit fits", timeout=5)


async def test_pc_with_ram_above_4g(firmware_path):
    """-M pc -m 5G: RAM above 4 GiB is out of reach of a 32-bit firmware without paging, so the
    carve-out comes from the top of low RAM; SeaBIOS puts edu's BAR0 elsewhere on pc."""
    img = ElfImage.open(firmware_path)
    image = (img.symbols["_image_start"].address, img.symbols["_image_end"].address)
    spec = MachineSpec(machine="pc", memory="5G", firmware="seabios", kernel=str(firmware_path),
                       append="carveout=2M align=2M", devices=["edu"])
    async with Machine(spec) as m:
        assert await wait_state(m, img) == FW_READY
        ram = _usable_ram(m.console.text)
        assert any(lo >= 1 << 32 for lo, _ in ram)           # the loader did report high RAM
        base = read_u(m, img, "carveout_base")
        assert base == _expected_carveout(ram, 1 << 32, 2 * MiB, 2 * MiB, image)
        assert base + 2 * MiB <= 1 << 32 and base % (2 * MiB) == 0
        reply = await FirmwareMailbox(m, img).request(CMD_EDU_FACTORIAL, (6,))
        assert reply.status == 0 and reply.ret[0] == 720 and reply.ret[2] == EDU_ID
        assert reply.ret[1] == 0xFEB00000 and not reply.ret[3] & (1 << 16)
