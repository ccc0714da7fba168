"""PCI enumeration on real QEMU: bridges, bus numbers, windows, 64-bit and I/O BARs, ECAM."""

from __future__ import annotations

import pytest

from driverkit import Machine, MachineSpec
from driverkit.errors import AlignmentError, BoundsError, DeviceNotFound, InvalidWidth, PciError
from driverkit.pci.assign import MEM_BASE, MEM_LIMIT, PREF_BASE, PREF_BASE_UPPER
from driverkit.pci.config import EcamConfigAccess, PortConfigAccess

EDU = (0x1234, 0x11E8)
TESTDEV = (0x1B36, 0x0005)
IVSHMEM = (0x1AF4, 0x1110)
EDU_ID = 0x010000ED

BRIDGES = [
    "edu",
    "pcie-root-port,id=rp1,chassis=1", "edu,bus=rp1",
    "pci-bridge,id=br1,chassis_nr=2", "edu,bus=br1,addr=3",
]


def _mem_window(br) -> tuple[int, int]:
    base = (br.read_config(MEM_BASE, 2) & 0xFFF0) << 16
    limit = ((br.read_config(MEM_LIMIT, 2) & 0xFFF0) << 16) | 0xFFFFF
    return base, limit


async def test_bare_q35_numbers_buses_and_opens_bridge_windows():
    async with Machine(MachineSpec(machine="q35", devices=BRIDGES)) as m:
        assert isinstance(m.pci.cfg, PortConfigAccess)
        edus = m.pci.find_all(*EDU)
        assert sorted(d.bdf[0] for d in edus) == [0, 1, 2]
        bridges = [d for d in m.pci if d.is_bridge]
        assert sorted((b.secondary_bus, b.subordinate_bus) for b in bridges) == [(1, 1), (2, 2)]
        for edu in edus:
            if edu.parent is not None:
                assert edu.parent.is_bridge and edu.parent.secondary_bus == edu.bdf[0]
                lo, hi = _mem_window(edu.parent)
                bar = edu.bars[0]
                assert lo <= bar.address and bar.address + bar.size - 1 <= hi
            edu.enable()
            bar0 = edu.iomap(0)
            assert bar0.readl(0) == EDU_ID
            bar0.writel(4, 0x0F0F1234)
            assert bar0.readl(4) == ~0x0F0F1234 & 0xFFFFFFFF
        # no two memory BARs overlap
        spans = sorted((b.address, b.address + b.size) for d in m.pci for b in d.bars.values()
                       if b.kind == "mem")
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


async def test_device_behind_a_closed_bridge_is_unreachable_until_enabled():
    # The bridge forwards nothing until its COMMAND enables memory: proves windows are real.
    async with Machine(MachineSpec(machine="q35", devices=BRIDGES[3:])) as m:
        edu = m.pci.find(*EDU)
        assert edu.parent is not None and edu.parent.command & 0x2 == 0
        edu._set_command(0x2)  # the device alone
        raw = m.ioremap(edu.bars[0].address, 0x1000, allow_unbacked=True)
        with pytest.raises(InvalidWidth, match="nothing is mapped there"):
            raw.readl(0)  # QEMU: no region takes the address
        edu.enable()  # enables the bridge chain first
        assert edu.parent.command & 0x7 == 0x7
        assert raw.readl(0) == EDU_ID


async def test_64bit_prefetchable_bars_go_above_4g_also_behind_a_bridge():
    spec = MachineSpec(
        machine="q35",
        devices=["ivshmem-plain,memdev=shm0", "pci-bridge,id=br1,chassis_nr=2",
                 "ivshmem-plain,memdev=shm1,bus=br1,addr=4"],
        extra_args=["-object", "memory-backend-ram,id=shm0,size=2M",
                    "-object", "memory-backend-ram,id=shm1,size=4M"])
    async with Machine(spec) as m:
        shms = m.pci.find_all(*IVSHMEM)
        assert sorted(d.bars[2].size for d in shms) == [2 << 20, 4 << 20]
        for i, d in enumerate(shms):
            bar = d.bars[2]
            assert bar.is64 and bar.prefetchable and bar.kind == "mem"
            assert bar.address >= 1 << 32 and bar.address % bar.size == 0
            assert d.read_config(0x10 + 4 * 2 + 4, 4) == bar.address >> 32
            d.enable()
            mem = d.iomap(2)
            mem.writeq(bar.size - 8, 0x1122334455667788 + i)
            assert mem.readq(bar.size - 8) == 0x1122334455667788 + i
        behind = next(d for d in shms if d.parent is not None)
        br = behind.parent
        pref = ((br.read_config(PREF_BASE, 2) & 0xFFF0) << 16) | \
            (br.read_config(PREF_BASE_UPPER, 4) << 32)
        assert pref <= behind.bars[2].address and pref >= 1 << 32


async def test_io_bar_through_ports_beside_the_memory_bar():
    async with Machine(MachineSpec(machine="q35", devices=["pci-testdev"])) as m:
        t = m.pci.find(*TESTDEV)
        io = t.bars[1]
        assert io.kind == "io" and io.size == 256 and 0xC000 <= io.address < 0x10000
        t.enable()
        ports, mem = t.iomap(1), t.iomap(0)
        assert ports.space == "io"
        ports.writeb(0, 1)  # select test 1 of the port-I/O test set
        assert ports.read(16, 23) == b"portio-wildcard-eventfd"
        assert ports.readl(4) & 0xFFFF0000 == 0  # its test offset is a port offset
        mem.writeb(0, 1)
        assert mem.read(16, 21) == b"mmio-wildcard-eventfd"


async def test_pc_machine_enumerates_through_a_pci_bridge():
    async with Machine(MachineSpec(machine="pc", devices=["pci-bridge,id=br1,chassis_nr=1",
                                                          "edu,bus=br1,addr=5"])) as m:
        piix3 = m.pci.find(0x8086, 0x7000)
        assert piix3.bdf == (0, 1, 0)
        edu = m.pci.find(*EDU)
        assert edu.bdf == (1, 5, 0)
        edu.enable()
        assert edu.iomap(0).readl(0) == EDU_ID


async def test_aarch64_virt_enumerates_over_ecam_and_maps_io_through_the_pio_window():
    spec = MachineSpec(arch="aarch64", devices=["edu", "pci-testdev"])
    async with Machine(spec) as m:
        assert isinstance(m.pci.cfg, EcamConfigAccess) and m.pci.cfg.base == 0x40_1000_0000
        host = m.pci.get("00:00.0")
        assert (host.vendor, host.device) == (0x1B36, 0x0008)  # gpex host bridge
        edu = m.pci.find(*EDU)
        assert 0x1000_0000 <= edu.bars[0].address < 0x3EFF_0000
        edu.enable()
        assert edu.iomap(0).readl(0) == EDU_ID
        t = m.pci.find(*TESTDEV)
        t.enable()
        ports = t.iomap(1)
        assert ports.phys == 0x3EFF_0000 + t.bars[1].address
        ports.writeb(0, 2)
        assert ports.read(16, 24) == b"portio-datamatch-eventfd"
        assert m.pci.cfg.size == 4096  # ECAM reaches extended config space
        edu.read_config(0x100, 4)


async def test_aarch64_virt_bridge_and_64bit_bar():
    spec = MachineSpec(arch="aarch64",
                       devices=["pcie-root-port,id=rp1,chassis=1", "ivshmem-plain,memdev=s,bus=rp1"],
                       extra_args=["-object", "memory-backend-ram,id=s,size=1M"])
    async with Machine(spec) as m:
        shm = m.pci.find(*IVSHMEM)
        assert shm.bdf == (1, 0, 0)
        assert shm.bars[2].address >= 0x80_0000_0000  # virt's high MMIO window
        shm.enable()
        mem = shm.iomap(2)
        mem.writel(0x40, 0xA5A55A5A)
        assert mem.readl(0x40) == 0xA5A55A5A


async def test_aarch64_virt_without_highmem_uses_the_low_ecam():
    spec = MachineSpec(arch="aarch64", devices=["edu", "ivshmem-plain,memdev=s"],
                       extra_args=["-M", "highmem=off",
                                   "-object", "memory-backend-ram,id=s,size=1M"])
    async with Machine(spec) as m:
        assert m.pci.cfg.base == 0x3F00_0000 and m.pci.cfg.buses == 16
        shm = m.pci.find(*IVSHMEM)
        assert 0x1000_0000 <= shm.bars[2].address < 0x3EFF_0000  # no high window to use
        edu = m.pci.find(*EDU)
        edu.enable()
        shm.enable()
        assert edu.iomap(0).readl(0) == EDU_ID
        shm.iomap(2).writel(0, 0x5EED)
        assert shm.iomap(2).readl(0) == 0x5EED


async def test_lookup_and_bad_config_access_errors():
    async with Machine(MachineSpec(devices=["edu"])) as m:
        with pytest.raises(DeviceNotFound, match="1234:11e8"):
            m.pci.find(0xDEAD, 0xBEEF)
        with pytest.raises(DeviceNotFound, match="00:1f.0"):
            m.pci.get("07:00.0")
        edu = m.pci.find(*EDU)
        with pytest.raises(BoundsError, match="BAR5"):
            edu.iomap(5)
        with pytest.raises(BoundsError, match="0x100"):
            edu.read_config(0x100, 4)  # mechanism #1 reaches 256 bytes only
        with pytest.raises(AlignmentError):
            edu.read_config(0x3, 2)
        with pytest.raises(BoundsError, match="device < 32"):
            m.pci.cfg.read((0, 32, 0), 0, 4)
        with pytest.raises(PciError, match="not aligned"):
            edu.set_bar_address(0, edu.bars[0].address + 0x1000)
        edu.enable()
        assert edu.iomap(0).readl(0) == EDU_ID  # QEMU survived all of it
