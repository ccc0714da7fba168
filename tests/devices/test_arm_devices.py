"""pl011 and pl031 drivers on qemu-system-aarch64 -M virt (real QEMU 7.2)."""

from __future__ import annotations

from construct import Int32ul

from driverkit.devices.pl011 import Pl011, Pl011Regs
from driverkit.devices.pl031 import Pl031, Pl031Regs
from driverkit.regs import RW, Register


async def test_pl011_writes_show_up_on_the_serial_capture(launch):
    async with launch(Pl011) as (m, uart):
        report = uart.check()
        assert report.ok, str(report)
        assert uart.info()["part"] == 0x011
        await uart.write("hello from driverkit pl011\n")
        await m.console.expect("hello from driverkit pl011", timeout=5)


async def test_pl011_trm_widths_differ_from_qemu(launch):
    """Declared as the TRM says (IBRD 16 bits), QEMU 7.2 is caught storing all 32."""

    class TrmIbrd(Pl011Regs):
        ibrd = Register(0x24, Int32ul, RW, reset=0, writable=0xFFFF)

    async with launch(Pl011) as (_, uart):
        [m] = TrmIbrd.check(uart.regs.iomem).mismatches
        assert (m.register, m.test) == ("ibrd", "writes")
        assert "bits 0xffff0000 declared read-only took writes" in m.note


async def test_pl031_alarm_raises_and_clears_spi2(launch):
    async with launch(Pl031) as (m, rtc):
        report = rtc.check()
        assert report.ok, str(report)
        assert rtc.time() > 1_600_000_000  # seconds since 1970, from the host clock
        line = await rtc.alarm_now(timeout=5)
        assert line == 2 and m.irq.level(2)
        assert rtc.regs.ris.read() == 1 and rtc.regs.mis.read() == 1
        await rtc.clear_alarm(timeout=5)
        assert not m.irq.level(2) and rtc.regs.ris.read() == 0


async def test_pl031_cr_declared_as_in_the_trm_is_caught(launch):
    class TrmCr(Pl031Regs):
        cr = Register(0x0C, Int32ul, RW, reset=0, writable=0x1)

    async with launch(Pl031) as (_, rtc):
        by = {(f.register, f.test): f for f in TrmCr.check(rtc.regs.iomem).mismatches}
        assert set(by) == {("cr", "reset"), ("cr", "writes")}
        assert by[("cr", "reset")].observed == 1
        assert "bits 0x00000001 declared writable did not take writes" in by[("cr", "writes")].note
