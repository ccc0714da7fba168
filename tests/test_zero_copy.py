"""Zero-copy RAM: IoMem.view aliases guest RAM (no copy), readinto fills a caller's buffer,
and both respect routing (a view exists only while QEMU routes the range to RAM)."""

from __future__ import annotations

import pytest

from driverkit import Machine, MachineSpec
from driverkit.errors import BoundsError, MappingError, UnbackedError

RAM = 0x200000
HPET = 0xFED00000


async def test_view_aliases_guest_ram_both_ways():
    async with Machine() as m:
        ram = m.ioremap(RAM, 0x2000)
        v = ram.view(0x100, 0x100)
        assert isinstance(v, memoryview) and len(v) == 0x100 and not v.readonly
        v[0:4] = b"\xde\xad\xbe\xef"  # a plain store into the mapping: no call, no copy
        assert m.qtest.read(RAM + 0x100, 4) == 0xEFBEADDE  # QEMU sees it at once
        m.qtest.write(RAM + 0x1F0, 8, 0x0123456789ABCDEF)
        m.sync()  # qtest writes are posted: wait until QEMU has done it
        assert bytes(v[0xF0:0xF8]) == (0x0123456789ABCDEF).to_bytes(8, "little")
        assert ram.view(0x100, 4) == v[:4]  # two views, one memory
        with pytest.raises(BoundsError):
            ram.view(0x1F00, 0x200)


async def test_readinto_fills_the_buffer_from_ram_and_from_rom():
    async with Machine() as m:
        ram = m.ioremap(RAM, 0x1000)
        m.qtest.write_bytes(RAM + 8, b"zero-copy RAM")
        buf = bytearray(13)
        assert ram.readinto(8, buf) == 13 and buf == b"zero-copy RAM"
        rom = m.ioremap(0xFFFF0000, 0x10000)  # the firmware ROM: through qtest's b64read
        assert m.space.route(rom) == "qtest"
        into = bytearray(0x10000)
        rom.readinto(0, memoryview(into))
        assert bytes(into) == m.qtest.read_bytes(0xFFFF0000, 0x10000) == rom.read(0, 0x10000)
        with pytest.raises(BoundsError):
            ram.readinto(0xFF8, bytearray(16))
        with pytest.raises(MappingError, match="writable"):
            ram.readinto(0, b"read-only")
        assert m.trace.accesses("read_bulk")[0].data == b"zero-copy RAM"  # traced, as a copy


async def test_view_is_refused_where_qemu_does_not_route_to_ram():
    async with Machine() as m:
        hpet = m.ioremap(HPET, 0x400)
        with pytest.raises(UnbackedError, match="hpet"):
            hpet.view(0, 4)
        with pytest.raises(MappingError, match="view"):
            m.ioport_map(0x510, 2).view(0, 2)
    async with Machine(MachineSpec(shared_ram=False)) as m:
        with pytest.raises(UnbackedError, match="RAM"):
            m.ioremap(RAM, 0x1000).view(0, 4)  # no shared backend: nothing to alias


async def test_view_is_released_when_the_range_stops_being_ram_and_at_iounmap():
    async with Machine(MachineSpec(machine="q35", memory="128M")) as m:
        low_end = max(r.end + 1 for r in m.flat.ranges if r.kind == "ram" and r.end < 1 << 32)
        tseg = low_end - (1 << 20)
        io = m.ioremap(tseg, 0x1000)
        v = io.view(0, 16)
        v[0] = 0x77
        hb = m.pci.get("00:00.0")
        hb.write_config(0x9E, 1, 0x01)  # ESMRAMC.T_EN
        hb.write_config(0x9D, 1, 0x0A)  # SMRAM.G_SMRAME: TSEG closed, a blackhole over it
        with pytest.raises(ValueError, match="released"):
            v[0]  # the view would alias RAM QEMU no longer shows: it is gone
        assert io.readb(0) == 0xFF == m.qtest.read(tseg, 1)
        with pytest.raises(UnbackedError, match="tseg-blackhole"):
            io.view(0, 16)
        ram = m.ioremap(0x100000, 0x1000)
        w = ram.view(0, 8)
        m.iounmap(ram)
        with pytest.raises(ValueError, match="released"):
            bytes(w)


async def test_read_and_write_move_bytes_once_and_stay_in_order():
    async with Machine() as m:
        ram = m.ioremap(RAM, 0x10000)
        data = bytes(range(256)) * 256
        ram.write(0, data)
        assert m.qtest.read_bytes(RAM, len(data)) == data
        assert ram.read(0, len(data)) == data
        ram.write(0x10, memoryview(bytearray(b"abc")))
        assert ram.read(0x10, 3) == b"abc"
