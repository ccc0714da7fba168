"""Interrupts on real QEMU: edu INTx on the routed IOAPIC/GIC line, raised and lowered; MSI."""

from __future__ import annotations

import pytest

from driverkit import Machine, MachineSpec
from driverkit.errors import MachineTimeout
from driverkit.pci import wait_for_firmware

EDU = (0x1234, 0x11E8)
RAISE, ACK, STATUS = 0x60, 0x64, 0x24


async def _edu_intx_on_its_line(m: Machine, watched: range) -> dict[str, int]:
    """Raise and lower every edu's INTx; only its own line may move. Returns address -> line."""
    path = await m.irq.intercept_controller()
    assert "device[" not in path or m.spec.arch == "aarch64"
    lines = {}
    for edu in m.pci.find_all(*EDU):
        edu.enable()
        bar = edu.iomap(0)
        line = edu.irq_line()
        assert not m.irq.level(line)
        before = {n: m.irq.level(n) for n in watched if n != line}
        bar.writel(RAISE, 0x1)
        await m.irq.wait_raised(line, timeout=2.0)
        assert bar.readl(STATUS) == 0x1
        assert {n: m.irq.level(n) for n in before} == before, f"{edu} moved another line"
        bar.writel(ACK, 0x1)
        await m.irq.wait_lowered(line, timeout=2.0)
        lines[edu.address] = line
    return lines


async def test_q35_bare_edu_intx_lands_on_ich9_gsi():
    devices = ["edu", "edu,addr=2", "pci-bridge,id=br1,chassis_nr=1,addr=3", "edu,bus=br1,addr=1"]
    async with Machine(MachineSpec(machine="q35", devices=devices)) as m:
        lines = await _edu_intx_on_its_line(m, range(16, 24))
        # ICH9: slot s INTA -> PIRQ (s % 4) + 4 -> GSI 20 + s % 4; behind the bridge in slot 3,
        # device 1's INTA swizzles to INTB of slot 3 -> GSI 20 + (3 + 1) % 4
        assert lines == {"00:01.0": 21, "00:02.0": 22, "01:01.0": 20}
        assert m.irq.counts[21] == 1


async def test_q35_seabios_edu_intx():
    async with Machine(MachineSpec(machine="q35", firmware="seabios", devices=["edu"])) as m:
        assert await _edu_intx_on_its_line(m, range(16, 24)) == {"00:01.0": 21}


@pytest.mark.parametrize("firmware", ["bare", "seabios"])
async def test_pc_edu_intx_follows_piix3_pirq_routing(firmware):
    spec = MachineSpec(machine="pc", firmware=firmware, devices=["edu", "edu,addr=4"])
    async with Machine(spec) as m:
        await wait_for_firmware(m)  # pc has no ECAM: never race SeaBIOS on port 0xcf8
        lines = await _edu_intx_on_its_line(m, range(5, 16))
        piix3 = m.pci.get("00:01.0")
        # PIIX3: slot s INTA -> PIRQ (s - 1) & 3 -> the ISA IRQ in register 0x60 + PIRQ
        for addr, line in lines.items():
            slot = int(addr[3:5], 16)
            assert line == piix3.read_config(0x60 + ((slot - 1) & 3), 1)
        assert set(lines.values()) <= {5, 9, 10, 11}


async def test_aarch64_gic_lines_are_spi_numbers():
    async with Machine(MachineSpec(arch="aarch64", devices=["edu"])) as m:
        path = await m.irq.intercept_controller()
        props = {p["name"]: p["type"] for p in await m.execute("qom-list", {"path": path})}
        assert "num-irq" in props
        rtc = m.ioremap(0x09010000, 0x1000)  # PL031: SPI 2
        rtc.writel(0x04, rtc.readl(0x00))  # MR = DR ...
        rtc.writel(0x10, 1)  # ... and unmasked: raised at once
        await m.irq.wait_raised(2, timeout=2.0)
        rtc.writel(0x1C, 1)  # ICR
        await m.irq.wait_lowered(2, timeout=2.0)
        # GPEX: slot 1 INTA -> SPI 3 + (1 + 0) % 4
        assert await _edu_intx_on_its_line(m, range(3, 7)) == {"00:01.0": 4}


async def test_wait_on_a_quiet_line_times_out_naming_it():
    async with Machine(MachineSpec(devices=["edu"])) as m:
        with pytest.raises(MachineTimeout, match="IRQ line 19 to be raised") as info:
            await m.irq.wait_raised(19, timeout=0.2)
        assert info.value.timeout == 0.2


async def test_edu_msi_write_is_observed_in_ram_instead_of_intx():
    async with Machine(MachineSpec(devices=["edu"])) as m:
        await m.irq.intercept_controller()
        edu = m.pci.find(*EDU)
        edu.enable()
        with m.dma.alloc(64, name="msi target") as target:
            edu.enable_msi(target.phys, 0x4321)
            bar = edu.iomap(0)
            bar.writel(RAISE, 0x1)
            await m.irq.wait_msi(target.phys, 0x4321, timeout=2.0)
            m.qtest.sync()
            assert not m.irq.level(edu.irq_line())  # MSI replaces the INTx assertion
            bar.writel(ACK, 0x1)
            edu.disable_msi()
