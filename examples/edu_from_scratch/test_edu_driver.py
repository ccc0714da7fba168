"""Tests for the edu driver, on real QEMU through driverkit's pytest plugin.

No asyncio marker or configuration: the plugin takes care of it. Run from the repo root:
    .venv/bin/pytest examples/edu_from_scratch
    .venv/bin/pytest examples/edu_from_scratch --driverkit-machine q35,pc   # both chipsets
    .venv/bin/pytest examples/edu_from_scratch --driverkit-artifacts /tmp/edu-artifacts
"""

import math

import pytest
from edu_driver import EduDriver, EduRegs

# Every test in this file gets a machine with the edu device; tests share one
# (reset between tests: QMP system_reset, fresh PCI enumeration, cleared trace).
pytestmark = pytest.mark.machine(devices=["edu"], scope="module", timeout=30)


def test_identification_and_liveness(machine):
    drv = EduDriver(machine)
    assert drv.regs.id.read() == 0x010000ED
    assert drv.alive()


# edu has no reset handler: QMP system_reset leaves its liveness register as the previous
# test wrote it. Checking power-on reset values therefore needs a machine of its own.
@pytest.mark.machine(scope="function")
def test_register_layout_matches_the_device(machine):
    report = EduRegs.check(EduDriver(machine).bar0)
    assert report.ok, str(report)


@pytest.mark.parametrize("n", [0, 5, 12])
async def test_factorial(machine, n):
    drv = EduDriver(machine)
    assert await drv.factorial(n) == math.factorial(n) & 0xFFFFFFFF


def test_the_driver_touches_registers_in_the_expected_order(machine):
    drv = EduDriver(machine)
    machine.trace.clear()                      # forget the probe's accesses
    drv.alive()
    assert machine.trace.sequence(base=drv.bar0.phys) == [
        ("write", 0x04, 0x5A5A0F0F), ("read", 0x04, 0xA5A5F0F0)]
