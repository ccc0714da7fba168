"""Routing follows QEMU while it runs: chipset registers re-route guest RAM (q35 TSEG, SMBASE,
PAM; i440fx PAM), ranges appear after start (RCBA, a BAR), a reset puts the map back.

Every value read through driverkit is checked against QEMU's own view of the same address
at the same moment: a raw qtest read (QEMU routes it itself), and the same scenario on a
machine with shared_ram=False (everything through qtest). Register facts: Intel's MCH/ICH9
and i440FX datasheets, as QEMU 7.2 implements them (hw/pci-host/q35.c, i440fx.c).
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Callable

import pytest

from driverkit import Machine, MachineSpec
from driverkit.errors import MachineTimeout, UnbackedError

HOST_BRIDGE = "00:00.0"
ESMRAMC, SMRAM, F_SMBASE = 0x9E, 0x9D, 0x9C  # q35 MCH config registers
T_EN, G_SMRAME, C_BASE_SEG = 0x01, 0x08, 0x02
SMBASE_QUERY, SMBASE_IN_RAM, SMBASE_LCK = 0xFF, 0x01, 0x02
PAM0 = {"q35": 0x90, "pc": 0x59}  # PAM0..PAM6; PAM0[7:4] = 0xf0000, PAMn = 0xc0000 + (n-1)*0x8000
PAM_RO, PAM_RW = 0x1, 0x3  # per 16 KiB nibble: 0 PCI, 1 read RAM, 2 write RAM, 3 both
TSEG_1M = 1 << 20  # ESMRAMC TSEG_SZ = 0
LPC, RCBA = "00:1f.0", 0xF0  # ICH9 root complex base address register (bit 0: enable)
PCIEXBAR, ECAM = 0x60, 0xB0000000  # q35 MMCONFIG base (bit 0: enable; QEMU's default base)
CONFIG_ADDRESS, CONFIG_DATA = 0xCF8, 0xCFC  # PCI configuration mechanism #1 (host bridge 00:00.0)

Cfg = Callable[[Machine, int, int, int], None]
"""Writes `value` (`width` bytes) at config offset `off` of the host bridge, some way."""


def cfg_pci(m: Machine, off: int, width: int, value: int) -> None:
    m.pci.get(HOST_BRIDGE).write_config(off, width, value)


def cfg_raw_ports(m: Machine, off: int, width: int, value: int) -> None:
    """Around driverkit's buses: typed raw qtest port writes, 0xCF8 then 0xCFC."""
    m.qtest.pio_write(CONFIG_ADDRESS, 4, 0x80000000 | off & 0xFC)
    m.qtest.pio_write(CONFIG_DATA + (off & 3), width, value)


def cfg_raw_verbs(m: Machine, off: int, width: int, value: int) -> None:
    """Raw qtest command lines, as typed at QEMU's qtest prompt."""
    m.qtest.command(f"outl {CONFIG_ADDRESS:#x} {0x80000000 | off & 0xFC:#x}")
    m.qtest.command(f"out{'bw_l'[width - 1]} {CONFIG_DATA + (off & 3):#x} {value:#x}")


def cfg_raw_ecam(m: Machine, off: int, width: int, value: int) -> None:
    """A raw qtest MMIO write into q35's MMCONFIG window (enabled first, through m.pci)."""
    if m.flat.find(ECAM) is None:  # (no config read each time: it writes 0xCF8 itself)
        m.pci.get(HOST_BRIDGE).write_config(PCIEXBAR, 4, ECAM | 1)
    assert m.flat.find(ECAM).name == "pcie-mmcfg-mmio"
    m.qtest.write(ECAM + off, width, value)


CFG_WAYS = [cfg_pci, cfg_raw_ports, cfg_raw_verbs, cfg_raw_ecam]


def _region_at(m: Machine, addr: int) -> str:
    """The memory region QEMU's flat view shows at `addr` (read fresh from QEMU)."""
    r = m.flat.find(addr)
    return f"{r.name}/{r.kind}" if r else "none"


def _kind_at(m: Machine, addr: int) -> str:
    """ram, rom, romd or i/o: how QEMU's flat view renders `addr` now."""
    r = m.flat.find(addr)
    return r.kind if r else "none"


def _low_ram_end(m: Machine) -> int:
    return max(r.end + 1 for r in m.flat.ranges if r.kind == "ram" and r.end < 1 << 32)


def _pam_nibble(addr: int) -> tuple[int, int]:
    """(register offset from PAM0, shift) of the PAM nibble that decodes `addr`."""
    if addr >= 0xF0000:
        return 0, 4
    seg = (addr - 0xC0000) // 0x4000
    return 1 + seg // 2, 4 * (seg % 2)


def _set_pam(m: Machine, pam: dict[int, int], addr: int, mode: int, cfg: Cfg) -> None:
    """Set the PAM nibble of `addr`; `pam` holds the registers' values (kept here, so no
    config read, which writes 0xCF8 itself, happens between the write and the access)."""
    reg, shift = _pam_nibble(addr)
    off = PAM0[m.spec.machine] + reg
    pam[off] = pam[off] & ~(0xF << shift) | (mode << shift)
    cfg(m, off, 1, pam[off])


async def _reset_event(m: Machine, timeout: float = 5.0) -> None:
    """Wait for QMP's RESET event (system_reset returns before the reset is done)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not any(e.get("event") == "RESET" for e in m.events):
        assert loop.time() < deadline, "no RESET event after system_reset"
        await asyncio.sleep(0.005)


def _agree(m: Machine, io, off: int = 0) -> int:
    """io.readb(off), checked against a raw qtest read of the same address."""
    value = io.readb(off)
    assert value == m.qtest.read(io.phys + off, 1), f"{io.phys + off:#x}"
    return value


async def _tseg(m: Machine, cfg: Cfg = cfg_pci) -> list[object]:
    seen: list[object] = []
    tseg = _low_ram_end(m) - TSEG_1M
    io = m.ioremap(tseg, 0x1000)
    io.writeb(0, 0x5A)
    seen += [_agree(m, io), m.space.route(io)]
    cfg(m, ESMRAMC, 1, T_EN)
    cfg(m, SMRAM, 1, G_SMRAME | C_BASE_SEG)  # TSEG closed: QEMU puts a blackhole there
    seen += [_agree(m, io), m.space.route(io), _region_at(m, tseg)]
    await m.refresh_memory_map()  # a mapping made before a refresh keeps working after it
    io.writeb(0, 0x11)  # lands in the blackhole, not in RAM behind it
    seen += [_agree(m, io), m.read_phys(tseg, 4), _agree(m, m.ioremap(tseg, 0x1000))]
    cfg(m, ESMRAMC, 1, 0)  # TSEG off: the RAM is visible again, unchanged
    seen += [_agree(m, io), m.space.route(io)]
    return seen


@pytest.mark.parametrize("memory", ["128M", "256M"])
async def test_tseg_closed_reads_the_blackhole_like_qemu(memory):
    async with Machine(MachineSpec(machine="q35", memory=memory)) as m:
        seen = await _tseg(m)
        assert seen == [0x5A, "shm", 0xFF, "qtest", "tseg-blackhole/i/o", 0xFF, b"\xff" * 4,
                        0xFF, 0x5A, "shm"]
    async with Machine(MachineSpec(machine="q35", memory=memory, shared_ram=False)) as m:
        assert await _tseg(m) == [s if s != "shm" else "qtest" for s in seen]


async def _smbase(m: Machine) -> list[object]:
    io = m.ioremap(0x30000, 0x20000)
    io.writeb(0x100, 0xA7)
    seen: list[object] = [_agree(m, io, 0x100), m.space.route(io)]
    hb = m.pci.get(HOST_BRIDGE)
    hb.write_config(F_SMBASE, 1, SMBASE_QUERY)
    if not hb.read_config(F_SMBASE, 1) & SMBASE_IN_RAM:
        pytest.skip("this QEMU does not offer SMRAM at the default SMBASE")
    hb.write_config(F_SMBASE, 1, SMBASE_IN_RAM)
    hb.write_config(F_SMBASE, 1, SMBASE_LCK)  # locked: QEMU blackholes 0x30000-0x4ffff
    seen += [_agree(m, io, 0x100), m.space.route(io), _region_at(m, 0x30100)]
    return seen


async def test_smbase_lock_blackholes_like_qemu():
    async with Machine(MachineSpec(machine="q35")) as m:
        seen = await _smbase(m)
        assert seen == [0xA7, "shm", 0xFF, "qtest", "smbase-blackhole/i/o"]
    async with Machine(MachineSpec(machine="q35", shared_ram=False)) as m:
        assert await _smbase(m) == [s if s != "shm" else "qtest" for s in seen]


async def _pam(m: Machine, cfg: Cfg = cfg_pci) -> list[object]:
    hb = m.pci.get(HOST_BRIDGE)
    pam = {off: hb.read_config(off, 1) for off in range(PAM0[m.spec.machine], PAM0[m.spec.machine] + 7)}
    await m.refresh_memory_map()  # the reads above are done with; only `cfg` writes follow
    seen: list[object] = []
    low = m.ioremap(0xE0000, 0x1000)  # RAM at reset on both boards (QEMU's view says so)
    low.writeb(0, 0x5A)
    seen += [_agree(m, low), m.space.route(low)]
    _set_pam(m, pam, 0xE0000, PAM_RO, cfg)  # RAM, read-only to the CPU: QEMU shows it as rom
    seen += [_agree(m, low), m.space.route(low), _kind_at(m, 0xE0000)]
    _set_pam(m, pam, 0xE0000, PAM_RW, cfg)
    seen += [_agree(m, low), m.space.route(low)]
    top = m.ioremap(0xF0000, 0x1000)  # the BIOS ROM until PAM0 says RAM
    bios = _agree(m, top)
    seen += [m.space.route(top)]
    _set_pam(m, pam, 0xF0000, PAM_RW, cfg)  # shadow RAM: the mapping moves to the mmap
    top.writeb(0, bios ^ 0xFF)
    seen += [_agree(m, top) == bios ^ 0xFF, m.space.route(top), _kind_at(m, 0xF0000)]
    await m.refresh_memory_map()  # an explicit refresh changes nothing for mappings
    shadow = m.ioremap(0xF0000, 0x1000)  # made while it is RAM
    seen += [m.space.route(shadow)]
    _set_pam(m, pam, 0xF0000, 0, cfg)  # back to the ROM: both mappings read the BIOS again
    seen += [_agree(m, top) == bios, _agree(m, shadow) == bios, m.space.route(shadow)]
    return seen


PAM_SEEN = [0x5A, "shm", 0x5A, "qtest", "rom", 0x5A, "shm", "qtest", True, "shm", "ram", "shm",
            True, True, "qtest"]


async def test_tseg_closed_by_raw_qtest_writes_reads_the_blackhole_like_qemu():
    """The chipset written around driverkit's buses (raw qtest ports, raw command lines, an
    MMIO config write): the qtest channel's write hook marks the map, as m.pci's writes do."""
    async with Machine(MachineSpec(machine="q35", shared_ram=False)) as m:
        truth = await _tseg(m)
    for cfg in CFG_WAYS:
        async with Machine(MachineSpec(machine="q35")) as m:
            seen = await _tseg(m, cfg)
            assert [s if s != "shm" else "qtest" for s in seen] == truth, cfg.__name__


@pytest.mark.parametrize("cfg", CFG_WAYS[1:], ids=lambda c: c.__name__)
async def test_pam_set_by_raw_qtest_writes_matches_qemu(cfg):
    board = "q35"
    async with Machine(MachineSpec(machine=board, shared_ram=False)) as m:
        truth = await _pam(m, cfg)
    async with Machine(MachineSpec(machine=board)) as m:
        seen = await _pam(m, cfg)
    assert seen == PAM_SEEN  # the routes follow, as with m.pci's writes
    assert [s if s != "shm" else "qtest" for s in seen] == truth


async def test_raw_pam_port_writes_on_i440fx_match_qemu():
    async with Machine(MachineSpec(machine="pc", shared_ram=False)) as m:
        truth = await _pam(m, cfg_raw_ports)
    async with Machine(MachineSpec(machine="pc")) as m:
        seen = await _pam(m, cfg_raw_ports)
        assert seen == PAM_SEEN and [s if s != "shm" else "qtest" for s in seen] == truth


async def test_raw_ram_writes_do_not_reread_the_map():
    async with Machine(MachineSpec(machine="q35")) as m:
        ram = m.ioremap(0x100000, 0x1000)
        assert m.space.route(ram) == "shm"
        before = m.space.refreshes
        for i in range(200):  # RAM by the current view: one cached range compare each
            m.qtest.write(0x100000 + 4 * (i % 64), 4, i)
            m.qtest.command(f"writeb {0x100800 + i % 64:#x} {i & 0xFF:#x}")
            assert ram.readl(4 * (i % 64)) == i  # through the mmap, after the fence
        m.qtest.write_bytes(0x100900, b"\x01" * 64)
        m.qtest.memset(0x100A00, 64, 0x7E)
        assert ram.read(0x900, 1) + ram.read(0xA00, 1) == b"\x01\x7e"
        assert m.space.refreshes == before and not m.space.stale
        m.qtest.write(0xFED00000 + 0xF0, 4, 0)  # an MMIO write outside any BAR: may re-route
        assert m.space.stale
        ram.readl(0)
        assert m.space.refreshes == before + 1


@pytest.mark.parametrize("board", ["q35", "pc"])
async def test_pam_rerouting_matches_qemu(board):
    async with Machine(MachineSpec(machine=board)) as m:
        seen = await _pam(m)
        assert seen == PAM_SEEN
    async with Machine(MachineSpec(machine=board, shared_ram=False)) as m:
        assert await _pam(m) == [s if s != "shm" else "qtest" for s in seen]


async def test_rcba_appears_after_start_and_ioremap_just_works():
    async with Machine(MachineSpec(machine="q35")) as m:
        base = 0xFED1C000
        with pytest.raises(UnbackedError):
            m.ioremap(base, 0x4000)
        m.pci.get(LPC).write_config(RCBA, 4, base | 1)
        rcrb = m.ioremap(base, 0x4000)  # no refresh call: the config write marked the map
        assert m.backing(base) == "MMIO"
        assert rcrb.readl(0x3410) == m.qtest.read(base + 0x3410, 4)


async def test_bar_decoding_turned_on_by_hand_is_mappable():
    async with Machine(MachineSpec(devices=["edu"])) as m:
        dev = m.pci.find(vendor=0x1234, device=0x11E8)
        bar = dev.bars[0]
        with pytest.raises(UnbackedError):
            m.ioremap(bar.address, bar.size)  # assigned, decoding still off
        dev.write_config(0x04, 2, 0x2)  # COMMAND.memory, without PciDevice.enable()
        assert m.ioremap(bar.address, bar.size).readl(0) == 0x010000ED


async def test_reset_reopens_tseg_and_routing_follows():
    async with Machine(MachineSpec(machine="q35")) as m:
        tseg = _low_ram_end(m) - TSEG_1M
        io = m.ioremap(tseg, 0x1000)
        io.writeb(0, 0x3C)
        hb = m.pci.get(HOST_BRIDGE)
        hb.write_config(ESMRAMC, 1, T_EN)
        hb.write_config(SMRAM, 1, G_SMRAME | C_BASE_SEG)
        assert (_agree(m, io), m.space.route(io)) == (0xFF, "qtest")
        await m.execute("system_reset")  # plain QMP (Machine.reset() would also unmap `io`)
        await _reset_event(m)  # QEMU resets ESMRAMC: TSEG is RAM again
        assert (_agree(m, io), m.space.route(io)) == (0x3C, "shm")


async def test_a_refresh_costs_one_monitor_round_trip_and_clean_access_none():
    async with Machine(MachineSpec(machine="q35")) as m:
        ram = m.ioremap(0x100000, 0x1000)
        before = m.space.refreshes
        for i in range(100):
            ram.writel(0, i)
            assert ram.readl(0) == i
        hpet = m.ioremap(0xFED00000, 0x400)
        hpet.readl(0)
        assert m.space.refreshes == before  # RAM and MMIO reads alone never re-read the map
        m.pci.get(HOST_BRIDGE).write_config(PAM0["q35"], 1, 0)
        ram.readl(0)
        ram.readl(0)
        assert m.space.refreshes == before + 1  # once, lazily, after a chipset write


async def test_qmp_hotplug_maps_memory_and_the_view_follows():
    spec = MachineSpec(machine="q35", extra_args=["-m", "256M,slots=2,maxmem=1G"])
    async with Machine(spec) as m:
        await m.execute("query-status")
        assert not m.space.stale  # queries leave the map alone
        where = 1 << 32  # q35 puts hotplugged memory above 4 GiB when RAM fits below it
        assert m.backing(where) == "none"
        await m.execute("object-add", {"qom-type": "memory-backend-ram", "id": "hp1",
                                       "size": 128 << 20})
        await m.execute("device_add", {"driver": "pc-dimm", "id": "dimm1", "memdev": "hp1"})
        dimm = (await m.execute("query-memory-devices"))[0]["data"]
        assert dimm["addr"] == where
        assert m.backing(where) == "RAM"  # no refresh call: the QMP command marked the map
        hp = m.ioremap(where, 0x1000)
        assert m.space.route(hp) == "qtest"  # RAM, but not the shared backend
        hp.writel(0x10, 0xC0FFEE)
        assert hp.readl(0x10) == m.qtest.read(where + 0x10, 4) == 0xC0FFEE


async def test_a_late_monitor_reply_is_never_taken_for_the_next_one():
    async with Machine(MachineSpec(machine="q35")) as m:
        assert m.monitor is not None and m.process is not None
        m.space.refresh()  # the monitor is in use (capabilities negotiated)
        m.monitor.timeout = 0.3
        os.kill(m.process.pid, signal.SIGSTOP)  # QEMU stops answering for a while
        try:
            with pytest.raises(MachineTimeout, match="monitor reply"):
                m.space.refresh()
        finally:
            os.kill(m.process.pid, signal.SIGCONT)
        m.monitor.timeout = 5.0
        status = m.monitor.execute("query-status")  # the late `info mtree -f` text is skipped
        assert isinstance(status, dict) and status["status"] == "running"
        assert m.space.refresh().find(0xFED00000).name == "hpet"
