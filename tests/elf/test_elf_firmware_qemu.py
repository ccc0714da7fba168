"""The bare-metal firmware under real QEMU (q35 + SeaBIOS + multiboot -kernel): carve-out
placement, spoken through the addresses and layout in the ELF (driverkit.firmware's driver;
the mailbox protocol itself is tested in tests/firmware)."""

from __future__ import annotations

import pytest
import pytest_asyncio

from driverkit import Machine, MachineSpec
from driverkit.elf import ElfImage
from driverkit.errors import FirmwareError
from driverkit.firmware import (
    FirmwareMailbox,
    FwState,
    firmware_spec,
    parse_console_map,
    predict_carveout,
)

MiB = 1 << 20
EDU_ID = 0x010000ED


@pytest.fixture(scope="session")
def img(firmware: ElfImage) -> ElfImage:
    """The firmware's ELF, opened once per session (tests/elf/conftest.py)."""
    return firmware


def _spec(fw, append: str, devices=("edu",)) -> MachineSpec:
    return firmware_spec(append, devices=devices, memory="256M", path=fw)


def read_u(m, img: ElfImage, name: str) -> int:
    """A firmware variable read at its symbol's address and size (also on a parked machine)."""
    sym = img.symbols[name]
    return int.from_bytes(m.read_phys(sym.address, sym.size), "little")


def _expected_carveout(m, img: ElfImage, cmdline: str) -> int:
    """driverkit.mem's memblock model, on the map the firmware printed."""
    found = predict_carveout(cmdline=cmdline, image=img,
                             e820=parse_console_map(m.console.text)).base
    assert found is not None, "the model finds no room"
    return found


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(firmware_path, img):
    """One booted firmware shared by the tests below (they leave no state behind but `served`)."""
    async with Machine(_spec(firmware_path, "mem=200M carveout=1M")) as m:
        mb = await FirmwareMailbox.attach(m, img, timeout=20)
        yield m, img, mb


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
    edu = await mb.edu_factorial(5)
    assert edu.value == 120 and edu.device_id == EDU_ID
    assert edu.bar0 == 0xE0000000 and edu.devfn == bdf and edu.assigned_bar
    await m.console.expect("assigned 0xe0000000", timeout=5)
    cfg.writel(0, 0x80000000 | bdf << 8 | 0x10)
    assert cfg.readl(4) & ~0xF == 0xE0000000
    cfg.writel(4, original)                               # leave the shared machine as found


# --- separate boots: command-line variants ------------------------------------------------------


async def test_carveout_placement_matches_memblock_rule(firmware_path, img):
    cmdline = "mem=0x9180000 carveout=3M align=2M"
    async with Machine(_spec(firmware_path, cmdline, ())) as m:
        mb = await FirmwareMailbox.attach(m, img, timeout=20)
        expected = _expected_carveout(m, img, cmdline)
        # round_down(0x9180000 - 3M = 0x8e80000, 2M) = 0x8e00000: aligned, below the limit
        assert mb.base == expected == 0x8E00000 and mb.size == 3 * MiB
        info = await mb.info()
        assert (info.base, info.size, info.mem_limit, info.align) == (0x8E00000, 3 * MiB,
                                                                      0x9180000, 2 * MiB)


async def test_octal_trap_in_mem_leaves_no_room(firmware_path, img):
    """mem=0248M is octal 024 = 20 bytes (parsing stops at '8'), as Linux's memparse reads it."""
    async with Machine(_spec(firmware_path, "mem=0248M", ())) as m:
        with pytest.raises(FirmwareError, match="no usable RAM range below the limit fits"):
            await FirmwareMailbox.attach(m, img, timeout=20)
        assert read_u(m, img, "mem_limit") == 20


async def test_bad_alignment_is_refused(firmware_path, img):
    async with Machine(_spec(firmware_path, "carveout=1M align=3M", ())) as m:
        with pytest.raises(FirmwareError, match="align= must be a power of two"):
            await FirmwareMailbox.attach(m, img, timeout=20)
        assert read_u(m, img, "fw_state") == FwState.FAILED


async def test_load_elf_into_a_parked_machine(img):
    """ElfImage.load through Machine.write_phys: segments land at their paddr, .bss is zeroed."""
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
async def test_carveout_never_overlaps_the_firmware_image(firmware_path, img, align, placed):
    """mem=2M leaves [1M, 2M): the image sits at its bottom. With 1 MiB alignment the only
    candidate, 0x100000, is the image itself, so there is no room; with 4 KiB it fits above."""
    image_end = img.symbols["_image_end"].address
    size = 2 * MiB - image_end - 0x8000                  # fits between the image and the limit
    cmdline = f"mem=2M carveout={size:#x} align={align:#x}"
    async with Machine(_spec(firmware_path, cmdline, ())) as m:
        if placed:
            mb = await FirmwareMailbox.attach(m, img, timeout=20)
            assert mb.base == (2 * MiB - size) // align * align and mb.base >= image_end
        else:
            with pytest.raises(FirmwareError, match="no usable RAM range below the limit fits"):
                await FirmwareMailbox.attach(m, img, timeout=20)
            assert read_u(m, img, "carveout_base") == 0


async def test_pc_with_ram_above_4g(firmware_path, img):
    """-M pc -m 5G: RAM above 4 GiB is out of reach of a 32-bit firmware without paging, so the
    carve-out comes from the top of low RAM; SeaBIOS puts edu's BAR0 elsewhere on pc."""
    spec = firmware_spec("carveout=2M align=2M", machine="pc", memory="5G", path=firmware_path)
    async with Machine(spec) as m:
        mb = await FirmwareMailbox.attach(m, img, timeout=20)
        ram = parse_console_map(m.console.text)
        assert any(e.addr >= 1 << 32 and e.type == 1 for e in ram)  # the loader reported high RAM
        assert mb.base == _expected_carveout(m, img, "carveout=2M align=2M")
        assert mb.base + 2 * MiB <= 1 << 32 and mb.base % (2 * MiB) == 0
        edu = await mb.edu_factorial(6)
        assert edu.value == 720 and edu.device_id == EDU_ID
        assert edu.bar0 == 0xFEB00000 and not edu.assigned_bar
