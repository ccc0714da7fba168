"""The model agrees: the carve-out the firmware chose under real QEMU equals driverkit.mem's
memblock prediction for the same map and request, and the map shows it as a reservation."""

from __future__ import annotations

import json

import pytest

from driverkit import Machine
from driverkit.elf import ElfImage
from driverkit.errors import FirmwareError, MemModelError
from driverkit.firmware import (
    FirmwareMailbox,
    carveout_plan,
    firmware_map,
    firmware_spec,
    parse_console_map,
    predict_carveout,
)

MiB = 1 << 20
IMAGE = (0x100000, 0x108000)         # a stand-in image range for the pure tests


# --- pure: the prediction and the plan --------------------------------------------------------


@pytest.mark.parametrize("cmdline, base", [
    ("mem=200M carveout=1M", 0xC700000),                     # ends exactly at mem=
    ("", 0x10000000 - 0x20000 - MiB),                        # below SeaBIOS's high tables
    ("mem=0x9180000 carveout=3M align=2M", 0x8E00000),       # round_down(limit - size, align)
    ("mem=100M mem=200M", 0xC700000),                        # the last mem= wins
    ("mem=junk", 0x10000000 - 0x20000 - MiB),                # reads as 0: ignored, as Linux
])
def test_prediction(cmdline, base):
    assert predict_carveout("q35", "256M", cmdline, image=IMAGE).base == base


@pytest.mark.parametrize("cmdline, failure", [
    ("mem=0248M", "no usable RAM range below the limit fits the carve-out"),   # octal 024
    ("carveout=1M align=3M", "align= must be a power of two"),
    ("carveout=0x100", "carveout= is smaller than the mailbox header"),
    ("carveout=1Mx", "carveout=1Mx is not a size"),
])
def test_prediction_of_failure(cmdline, failure):
    p = predict_carveout("q35", "256M", cmdline, image=IMAGE)
    assert p.base is None and failure in p.failure


def test_prediction_stays_below_4g_and_clear_of_the_image():
    p = predict_carveout("pc", "5G", "carveout=2M align=2M mem=8G", image=IMAGE)
    assert p.limit == 1 << 32 and p.mem_limit == 8 << 30
    # pc splits RAM at 3 GiB; SeaBIOS's tables end low RAM at 0xbffe0000; round_down(.. - 2M, 2M)
    assert p.base == 0xBFC00000
    tight = predict_carveout("q35", "256M", f"mem=2M carveout={2 * MiB - IMAGE[1]:#x}",
                             image=IMAGE)
    assert tight.base == IMAGE[1]                            # exactly the room above the image


def test_plan_shows_the_carveout_as_a_boot_time_reservation():
    p = carveout_plan("q35", "256M", "mem=200M carveout=1M", image=IMAGE)
    doc = json.loads(json.dumps(p.to_dict()))
    entry = {"name": "firmware carve-out", "start": 0xC700000, "size": MiB}
    assert entry in doc["carveouts"]
    assert "firmware carve-out           0x000c700000-0x000c7fffff" in p.to_text()
    svg = p.to_svg()
    assert "firmware carve-out 0xc700000 +1M" in svg and 'fill="#ff8c8c"' in svg  # carve-out colour
    # Linux's own boot allocations (NODE_DATA) now go around it
    log = {a.name: (a.start, a.size) for a in p.state.memblock.log}
    node_start, node_size = log["NODE_DATA(0)"]
    assert node_start + node_size <= 0xC700000


def test_plan_refuses_a_carveout_the_firmware_cannot_place():
    with pytest.raises(MemModelError, match="align= must be a power of two"):
        carveout_plan("q35", "256M", "align=3M", image=IMAGE)


def test_parse_console_map():
    text = ("driverkit-fw: memory map\r\n  mmap 0x0-0x9fbff usable\r\n"
            "  mmap 0x9fc00-0x9ffff reserved\r\n")
    assert [(e.addr, e.size, e.type) for e in parse_console_map(text)] == [
        (0, 0x9FC00, 1), (0x9FC00, 0x400, 2)]


# --- real QEMU: several machines, memory sizes and mem= values ------------------------------

CASES = [
    ("q35", "256M", "mem=200M carveout=1M"),
    ("q35", "512M", ""),
    ("pc", "128M", "mem=100M carveout=3M align=2M"),
    ("q35", "1G", "mem=0x3000000 carveout=8M align=1M"),
    ("pc", "5G", "carveout=2M align=2M"),                   # RAM above 4 GiB is out of reach
    ("q35", "3G", "mem=5G carveout=64M align=64M"),          # mem= above 4 GiB: 4 GiB still rules
]


@pytest.mark.parametrize("machine, memory, cmdline", CASES)
async def test_firmware_agrees_with_the_model(fw_elf, machine, memory, cmdline):
    img = ElfImage.open(fw_elf)
    predicted = predict_carveout(machine, memory, cmdline, image=img)
    async with Machine(firmware_spec(cmdline, machine=machine, memory=memory, devices=(),
                                     path=fw_elf)) as m:
        fw = await FirmwareMailbox.attach(m, img, timeout=20)
        # the mailbox is RAM (seen at once); the serial bytes before it may still be in flight
        await m.console.expect("mailbox ready", timeout=20)
        seen = parse_console_map(m.console.text)
        # the map the firmware got is the one driverkit.mem predicts for -nodefaults SeaBIOS
        assert seen == firmware_map(machine, memory)
        assert (fw.base, fw.size, fw.align) == (predicted.base, predicted.size, predicted.align)
        assert fw.mem_limit == predicted.mem_limit
        info = await fw.info()
        assert (info.base, info.size) == (predicted.base, predicted.size)
        mplan = carveout_plan(machine, memory, cmdline, base=fw.base, size=fw.size, e820=seen)
        assert {"name": "firmware carve-out", "start": fw.base, "size": fw.size} in \
            mplan.to_dict()["carveouts"]


@pytest.mark.parametrize("cmdline", ["mem=0248M", "carveout=1M align=3M"])
async def test_predicted_failure_is_the_firmware_failure(fw_elf, cmdline):
    img = ElfImage.open(fw_elf)
    predicted = predict_carveout("q35", "256M", cmdline, image=img)
    assert predicted.base is None
    async with Machine(firmware_spec(cmdline, devices=(), path=fw_elf)) as m:
        with pytest.raises(FirmwareError, match="failed to start") as exc:
            await FirmwareMailbox.attach(m, img, timeout=20)
        assert predicted.failure in str(exc.value)
