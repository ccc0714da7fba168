"""Stepped virtual time on stock QEMU (icount + stepping firmware): exact, frozen, in order."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from driverkit import Machine, MachineSpec
from driverkit.devices.cmsdk import CmsdkTimer
from driverkit.errors import BoardError, ClockError, ConfigError, DmaError

HPET = 0xFED00000
CMSDK_TIMER0 = 0x40000000  # mps2-an385 APB timer 0, 25 MHz
STEPS = [20, 1000, 123450, 10_000_000, 13, 7_777]


async def raw_icount(m: Machine) -> int:
    """Instructions QEMU executed (QMP query-replay): virtual ns when no warp happened."""
    return int((await m.execute("query-replay"))["icount"])


@pytest.mark.parametrize("board", ["q35", "pc"])
async def test_x86_step_is_exact_against_the_hpet(board: str) -> None:
    """HPET main counter (10 ns ticks of QEMU_CLOCK_VIRTUAL) reads floor(t / 10) after every
    step, and QEMU's instruction count equals t: no icount warp sneaked in."""
    async with Machine(MachineSpec(machine=board, clock="stepped")) as m:
        hpet = m.ioremap(HPET, 0x400)
        hpet.writel(0x10, 1)  # enable the main counter at t = 0
        expect = 0
        for ns in STEPS * 3:
            expect += ns
            assert m.clock_step(ns) == expect
            assert hpet.readq(0xF0) == expect // 10, f"after a {ns} ns step"
        assert m.clock_ns() == expect
        assert await raw_icount(m) == expect
        await asyncio.sleep(0.2)  # host time passes, virtual time does not
        assert hpet.readq(0xF0) == expect // 10


@pytest.mark.parametrize("board", ["microbit", "mps2-an385", "netduinoplus2", "lm3s6965evb"])
async def test_cortex_m_step_is_exact(board: str) -> None:
    async with Machine(MachineSpec(arch="arm", machine=board, clock="stepped")) as m:
        total = 0
        for ns in STEPS:
            total += ns
            assert m.clock_step(ns) == total
        assert await raw_icount(m) == total == m.clock_ns()


async def test_timer_fires_at_its_time_inside_a_step() -> None:
    """CMSDK APB timer: reload 100, 40 ns ticks. At t = 4000 ns the counter reads 1 and no
    interrupt is pending; one tick later it has expired (measured on QEMU 7.2: the expiry falls
    in (4000, 4020]), whatever step sizes reach there."""
    async with Machine(MachineSpec(arch="arm", machine="mps2-an385", clock="stepped")) as m:
        t = m.ioremap(CMSDK_TIMER0, 0x1000)
        (await CmsdkTimer.probe(m)).start(100)  # RELOAD = VALUE = 100, enable + interrupt
        m.clock_step(1987)
        m.clock_step(2013)
        assert (t.readl(0x4), t.readl(0xC)) == (1, 0)
        m.clock_step(20)
        assert (t.readl(0x4), t.readl(0xC)) == (0, 1)  # VALUE, INTSTATUS
        m.clock_step(40)
        assert t.readl(0xC) == 1 and t.readl(0x4) == 100  # reloaded; status stays until cleared


def timer_trace(board_steps: list[int]) -> list[int]:
    async def run() -> list[int]:
        async with Machine(MachineSpec(arch="arm", machine="mps2-an385",
                                       clock="stepped")) as m:
            t = m.ioremap(CMSDK_TIMER0, 0x1000)
            (await CmsdkTimer.probe(m)).start(0x1000)
            out = []
            for ns in board_steps:
                m.clock_step(ns)
                out += [t.readl(0x4), t.readl(0xC)]
            return out
    return asyncio.run(run())


def test_same_steps_same_register_values() -> None:
    """Determinism: two machines stepped alike read alike (scripts/clock-soak repeats this
    under a CPU hog)."""
    steps = [40, 4000, 123_440, 17, 1_000_000, 163_840, 13]
    assert timer_trace(steps) == timer_trace(steps)


async def test_clock_errors_say_what_is_allowed() -> None:
    async with Machine(MachineSpec()) as m:
        with pytest.raises(ClockError, match="clock='stepped'"):
            m.clock_step(100)
        with pytest.raises(ClockError, match="clock='stepped'"):
            m.clock_ns()
    async with Machine(MachineSpec(clock="stepped")) as m:
        for bad, why in [(-5, "backwards"), (1.5, "int"), (True, "int"), (3, "shortest"),
                         (1 << 60, "at most")]:
            with pytest.raises(ClockError, match=why):
                m.clock_step(bad)  # type: ignore[arg-type]
        with pytest.raises(ClockError, match="timer deadlines"):
            m.clock_step()
        assert m.clock_step(0) == 0 == m.clock_ns()  # nothing reached QEMU
    async with Machine(MachineSpec(clock="stepped", clock_shift=3)) as m:
        with pytest.raises(ClockError, match="multiple"):
            m.clock_step(1001)
        assert m.clock_step(8000) == 8000
        assert await raw_icount(m) == 1000


def test_spec_refuses_what_cannot_step() -> None:
    with pytest.raises(ConfigError, match="tcg"):
        MachineSpec(clock="stepped", accel="kvm")
    with pytest.raises(ConfigError, match="bare"):
        MachineSpec(clock="stepped", firmware="seabios")
    with pytest.raises(ConfigError, match="realtime, stepped"):
        MachineSpec(clock="frozen")
    with pytest.raises(ConfigError, match="clock_shift"):
        MachineSpec(clock="stepped", clock_shift=11)
    with pytest.raises(BoardError, match="microbit"):  # the error lists what exists
        MachineSpec(arch="arm", machine="no-such-board")


@pytest.mark.parametrize("arch, board", [("x86_64", "q35"), ("arm", "mps2-an385"),
                                         ("aarch64", "virt")])
async def test_the_stepping_mailbox_is_claimed(arch: str, board: str) -> None:
    """The RAM the stepping firmware reads is busy in the resource tree, so a DMA pool cannot
    be put over it (it would change the next step's count)."""
    async with Machine(MachineSpec(arch=arch, machine=board, clock="stepped")) as m:
        assert m.clock is not None
        fw = m.clock.fw
        assert "driverkit stepping mailbox" in m.iomem()
        page = fw.mailbox & ~0xFFF
        with pytest.raises(DmaError, match="clashes with a claimed region"):
            m.dma.use_region(page, 0x1000)
        m.clock_step(1000)
        assert m.clock_ns() == 1000


NO_NICE = """
import asyncio
import os
from driverkit import Machine, MachineSpec
from driverkit.errors import ClockError

async def main():
    print("pid", os.getpid())
    try:
        async with Machine(MachineSpec(clock="stepped")):
            print("started")
    except ClockError as exc:
        print("ClockError:", exc)

asyncio.run(main())
"""


def test_without_cap_sys_nice_the_clock_refuses_to_start() -> None:
    """Without the right to run QEMU's main loop SCHED_FIFO the stepped clock would warp; it
    refuses to start, says what it needs, and leaves no QEMU behind."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    out = subprocess.run(["setpriv", "--bounding-set", "-sys_nice", "--inh-caps", "-sys_nice",
                          sys.executable, "-c", NO_NICE], capture_output=True, text=True,
                         timeout=60)
    if out.stderr.startswith("setpriv:"):  # e.g. no CAP_SETPCAP to drop a capability with
        pytest.skip(f"setpriv cannot drop CAP_SYS_NICE here: {out.stderr.strip()}")
    assert "ClockError: clock='stepped' runs QEMU's main loop SCHED_FIFO" in out.stdout, out
    assert "RLIMIT_RTPRIO" in out.stdout and "started" not in out.stdout
    pid = int(out.stdout.split()[1])
    left = [p.name for p in Path("/dev/shm").iterdir() if p.name.startswith(f"driverkit-{pid}-")]
    assert left == [], "the machine's private dir outlived the refusal"


CMSDK_TIMER1 = 0x40001000  # mps2-an385 APB timer 1; NVIC inputs 8 (timer 0) and 9 (timer 1)


@pytest.mark.parametrize("reloads, first", [((300, 100), 9), ((100, 300), 8)])
async def test_timers_due_inside_one_step_fire_in_their_order(reloads: tuple[int, int],
                                                              first: int) -> None:
    """Two CMSDK timers expire inside one 1000-tick step: their interrupt lines rise in the
    order of their deadlines (not of their line numbers), each once (INTSTATUS holds)."""
    async with Machine(MachineSpec(arch="arm", machine="mps2-an385", clock="stepped")) as m:
        await m.irq.intercept_controller()
        for base, reload in zip((CMSDK_TIMER0, CMSDK_TIMER1), reloads):
            (await CmsdkTimer.probe(m, base)).start(reload)  # enable + interrupt enable
        m.trace.clear()
        m.clock_step(1000 * 40)  # 40 ns APB ticks
        raised = [e.addr for e in m.trace.events if e.op == "irq" and e.value]
        assert raised == [first, 17 - first], raised
        assert m.irq.level(8) and m.irq.level(9)
