"""hpet, pci_testdev, fw_cfg and isa_debug_exit drivers against real QEMU 7.2 (q35)."""

from __future__ import annotations

import pytest
from construct import Int32ub, Int32ul

from driverkit.devices.fw_cfg import DMA_SIGNATURE, FwCfg, FwCfgRegs, parse_e820, parse_file_dir
from driverkit.devices.hpet import HPET_CAPS_RESET, HPET_WIDTHS, Capabilities, Hpet, HpetRegs
from driverkit.devices.isa_debug_exit import IsaDebugExit, IsaDebugExitRegs, status_of
from driverkit.devices.pci_testdev import PciTestdev, PciTestdevRegs
from driverkit.errors import DeviceRefused, DriverError, LayoutError
from driverkit.mem import E820Type
from driverkit.regs import RO, RW, WO, Register

# --- HPET ---------------------------------------------------------------------------------


async def test_hpet_capabilities_counter_and_comparator(launch):
    async with launch(Hpet) as (m, hpet):
        report = hpet.check()
        assert report.ok, str(report)
        assert hpet.num_timers == 3 and hpet.period_fs == 10_000_000
        assert hpet.regs.capabilities.read().count_size_cap
        hpet.enable()
        value = await hpet.wait_counter(50_000, timeout=5)
        assert value >= 50_000
        await m.irq.intercept_controller()
        fired = await hpet.oneshot(2, 100_000, route=17, timeout=5)
        assert fired >= 100_000
        assert m.irq.counts.get(17) == 1  # the comparator's level interrupt reached GSI 17
        assert not hpet.regs.int_status.read().t2_int_sts  # cleared (W1C)
        with pytest.raises(DeviceRefused, match="cannot route to IOAPIC input 3"):
            await hpet.oneshot(0, 10, route=3)


async def test_hpet_destructive_check_and_a_wrong_reset(launch):
    class WrongReset(HpetRegs):
        capabilities = Register(0x000, Capabilities, RO, reset=HPET_CAPS_RESET ^ 0x300,
                                widths=HPET_WIDTHS)  # "5 timers"

    async with launch(Hpet) as (_, hpet):
        [m] = WrongReset.check(hpet.regs.iomem).mismatches
        assert (m.register, m.test, m.observed) == ("capabilities", "reset", HPET_CAPS_RESET)
        report = hpet.check(destructive=True)
        assert report.ok, str(report)
        by = {(f.register, f.test): f for f in report.findings}
        assert by[("int_status", "w1c")].verdict == "agree"


# --- pci-testdev ---------------------------------------------------------------------------


async def test_pci_testdev_tests_and_doorbells(launch):
    async with launch(PciTestdev) as (_, dev):
        report = dev.check()
        assert report.ok, str(report)
        assert any(f.register == "bar1.count" for f in report.findings)
        names = [t["name"] for t in dev.tests()]
        assert names == ["mmio-no-eventfd", "mmio-wildcard-eventfd", "mmio-datamatch-eventfd",
                         "portio-no-eventfd", "portio-wildcard-eventfd",
                         "portio-datamatch-eventfd"]
        assert dev.ring(0, "mem", times=3) == 3
        assert dev.ring(0, "io", times=2) == 2
        assert dev.ring(1, "mem") == 0  # the ioeventfd swallows the write: the count stays
        with pytest.raises(DeviceRefused):
            dev.select(3)


async def test_pci_testdev_count_declared_writable_is_caught(launch):
    class CountRW(PciTestdevRegs):
        count = Register(0x0C, Int32ul, RW, reset=0)

    async with launch(PciTestdev) as (_, dev):
        [m] = CountRW.check(dev.regs.iomem).mismatches
        assert (m.register, m.test) == ("count", "writes")
        assert "bits 0xffffffff declared writable did not take writes" in m.note


# --- fw_cfg -----------------------------------------------------------------------------


async def test_fw_cfg_signature_files_and_e820_by_pio_and_dma(launch):
    async with launch(FwCfg) as (m, fw):
        report = fw.check()
        assert report.ok, str(report)
        assert fw.signature == b"QEMU"
        assert fw.has_dma and fw.dma_signature == DMA_SIGNATURE
        files = fw.files()
        assert files == fw.files(dma=True)
        assert "etc/e820" in {f.name for f in files}
        raw = fw.read_file("etc/e820")
        assert raw == fw.read_file("etc/e820", dma=True)
        ram = [e for e in parse_e820(raw) if e.type == E820Type.RAM]
        assert [(e.addr, e.size) for e in ram] == [(0, m.spec.memory_bytes)]


async def test_fw_cfg_wrong_signature_byte_order_is_caught(launch):
    class LittleEndianSig(FwCfgRegs):
        dma_sig_hi = Register(0x4, Int32ub, RO, reset=0x554D4551, widths=(4,))

    async with launch(FwCfg) as (_, fw):
        [m] = LittleEndianSig.check(fw.regs.iomem).mismatches
        assert (m.register, m.test) == ("dma_sig_hi", "reset")
        assert (m.expected, m.observed) == (0x554D4551, DMA_SIGNATURE >> 32)


def test_fw_cfg_parsers_refuse_truncated_input():
    with pytest.raises(DriverError, match="says 2 files"):
        parse_file_dir(b"\0\0\0\2" + b"\0" * 64)
    with pytest.raises(DriverError, match="21 bytes is not a whole number of 20-byte entries"):
        parse_e820(b"\0" * 21)


# --- isa-debug-exit -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 7, 0x7F])
async def test_isa_debug_exit_status(launch, value):
    async with launch(IsaDebugExit) as (m, dev):
        assert dev.check().ok
        assert await dev.exit(value) == status_of(value) == ((value << 1) | 1) & 0xFF
        assert not m.alive


async def test_isa_debug_exit_declaration_outside_the_ports_is_caught(launch):
    """Nothing reads back, so the layout test's teeth are the port range: a map written for
    iobase 0xf0 (exit port at +4) does not fit the device's 4 ports and is refused."""
    from construct import Int8ul

    class WrongBase(IsaDebugExitRegs):
        size = 8
        exit_code = Register(0x4, Int8ul, WO, side_effects=True)

    async with launch(IsaDebugExit) as (m, dev):
        with pytest.raises(LayoutError, match=r"needs 0x5 bytes .* only 0x4 bytes"):
            WrongBase.check(dev.regs.iomem)
        assert m.alive  # refused in Python: nothing was written
