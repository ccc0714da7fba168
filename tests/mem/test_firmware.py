"""QEMU 7.2's etc/e820 and the low/high split (boundaries measured: pc 3584M splits at 3G,
pc 3G and 2816M stay low; q35 2816M splits at 2G)."""

import pytest

from driverkit.errors import MemModelError
from driverkit.mem.e820 import E820Entry, E820Type
from driverkit.mem.firmware import (
    firmware_e820,
    normalize_machine,
    qemu_fw_cfg_e820,
    qemu_initrd_range,
    ram_split,
)

G, M = 1 << 30, 1 << 20


@pytest.mark.parametrize(
    "machine,memory,split",
    [
        ("pc", 3 * G, (3 * G, 0)),
        ("pc", 3584 * M, (3 * G, 512 * M)),
        ("pc", 5 * G, (3 * G, 2 * G)),
        ("pc", 2816 * M, (2816 * M, 0)),
        ("q35", 2815 * M, (2815 * M, 0)),
        ("q35", 2816 * M, (2 * G, 768 * M)),
        ("q35", 5 * G, (2 * G, 3 * G)),
    ],
)
def test_split(machine, memory, split):
    assert ram_split(machine, memory) == split


def test_fw_cfg_file_contents():
    assert qemu_fw_cfg_e820("q35", 4 * G) == [
        E820Entry(0, 2 * G, E820Type.RAM),
        E820Entry(4 * G, 2 * G, E820Type.RAM),
        E820Entry(0xFD00000000, 0x300000000, E820Type.RESERVED),
    ]
    kvm = qemu_fw_cfg_e820("pc", 256 * M, accel="kvm", amd_cpu=False)
    assert kvm == [E820Entry(0, 256 * M, 1), E820Entry(0xFEFFC000, 0x4000, 2)]
    assert E820Entry(0xFEFFC000, 0x4000, 2) in firmware_e820("pc", 256 * M, accel="kvm")


def test_bad_inputs():
    with pytest.raises(MemModelError, match="knows pc .* and q35"):
        normalize_machine("virt")
    assert normalize_machine("pc-q35-7.2") == "q35" and normalize_machine("pc-i440fx-7.2") == "pc"
    with pytest.raises(MemModelError, match="multiple of 4 KiB"):
        qemu_fw_cfg_e820("pc", 1000)


@pytest.mark.parametrize(
    "machine,memory,defaults,start",
    [
        # measured "RAMDISK: [mem 0x...-" lines with a 1031069-byte initramfs
        ("pc", 256 * M, True, 0x0FEE4000),
        ("q35", 256 * M, True, 0x0FED4000),
        ("q35", 256 * M, False, 0x0FEE4000),
        ("pc", 5 * G, True, 0xBFEE4000),
        ("q35", 5 * G, True, 0x7FED4000),
    ],
)
def test_initrd_placement(machine, memory, defaults, start):
    assert qemu_initrd_range(machine, memory, 1031069, defaults=defaults) == (
        start,
        start + 1031069,
    )
