"""GPIO lines by name: set_in drives a device's input, intercept_out watches its outputs."""

from __future__ import annotations

import pytest

from driverkit import Machine, MachineSpec
from driverkit.errors import BoardError

GPIO = 0x50000000  # nRF51 GPIO: OUT 0x504, OUTSET 0x508, OUTCLR 0x50c, IN 0x510, CNF[n] 0x700
GPIO_QOM = "/machine/nrf51"  # the SoC carries its GPIO block's unnamed lines (qdev_pass_gpios)


async def test_set_in_drives_the_pin_the_in_register_shows() -> None:
    async with Machine(MachineSpec(arch="arm", machine="microbit")) as m:
        gpio = m.ioremap(GPIO, 0x1000)
        inputs, outputs = m.irq.gpio_lines(GPIO_QOM)
        assert inputs["unnamed-gpio-in"] == 32 and outputs["unnamed-gpio-out"] == 32
        gpio.writel(0x700 + 4 * 5, 0)  # pin 5: input, buffer connected
        assert gpio.readl(0x510) & (1 << 5) == 0
        m.irq.set_in(GPIO_QOM, "unnamed", 5, 1)
        assert gpio.readl(0x510) & (1 << 5)
        m.irq.set_in(GPIO_QOM, "unnamed-gpio-in", 5, 0)
        assert gpio.readl(0x510) & (1 << 5) == 0


async def test_intercepted_outputs_have_levels_and_waits() -> None:
    async with Machine(MachineSpec(arch="arm", machine="microbit")) as m:
        gpio = m.ioremap(GPIO, 0x1000)
        m.irq.intercept_out(GPIO_QOM)
        gpio.writel(0x700 + 4 * 3, 1)  # pin 3: output
        gpio.writel(0x508, 1 << 3)  # OUTSET
        await m.irq.wait_raised(3, timeout=2)
        assert m.irq.level(3)
        gpio.writel(0x50C, 1 << 3)  # OUTCLR
        await m.irq.wait_lowered(3, timeout=2)
        assert not m.irq.level(3)


async def test_bad_paths_and_lines_say_what_exists() -> None:
    async with Machine(MachineSpec(arch="arm", machine="microbit")) as m:
        with pytest.raises(BoardError, match="gpio"):  # lists /machine/nrf51's children
            m.irq.set_in("/machine/nrf51/gpoi", "unnamed", 0, 1)
        with pytest.raises(BoardError, match="passed on to /machine/nrf51"):
            m.irq.set_in("/machine/nrf51/gpio", "unnamed", 0, 1)
        with pytest.raises(BoardError, match="passed on to /machine/nrf51"):
            m.irq.intercept_out("/machine/nrf51/gpio")
        with pytest.raises(BoardError, match=r"unnamed-gpio-in\[32\]"):
            m.irq.set_in(GPIO_QOM, "reset", 0, 1)
        with pytest.raises(BoardError, match="0..31"):
            m.irq.set_in(GPIO_QOM, "unnamed", 32, 1)
        with pytest.raises(BoardError, match="sysbus-irq"):  # 7.2 cannot intercept those
            m.irq.intercept_out("/machine/nrf51/timer[0]")
        assert m.alive  # nothing reached QEMU's asserts


@pytest.mark.parametrize("board, container", [("mps2-an385", "/machine/armv7m"),
                                              ("microbit", "/machine/nrf51/armv6m")])
async def test_cortex_m_interrupts_are_intercepted_on_the_cpu_container(board: str,
                                                                        container: str) -> None:
    """The NVIC's inputs are passed on to the armv7m container; qtest intercepts only a
    device's own lines, so intercepting the NVIC itself would answer OK and see nothing."""
    async with Machine(MachineSpec(arch="arm", machine=board)) as m:
        with pytest.raises(BoardError, match=f"passed on to {container}: use that path"):
            m.irq.intercept(f"{container}/nvic")
        with pytest.raises(BoardError, match="no unnamed input lines"):
            m.irq.intercept("/machine")
        assert await m.irq.intercept_controller() == container
