"""Accesses QEMU drops (a width the device refuses): QEMU's own guest_errors log says so, and
Machine.check_accesses turns that into a warning or an InvalidWidth error on the access."""

from __future__ import annotations

import warnings

import pytest

from driverkit.errors import InvalidWidth, RejectedAccessWarning

HPET = 0xFED00000


@pytest.mark.machine()
async def test_hpet_16_bit_read_is_rejected_by_qemu_not_read_as_zero(machine):
    hpet = machine.ioremap(HPET, 0x400)
    machine.guest_errors.take()
    assert hpet.readw(0) == 0  # what QEMU answers over qtest: no error...
    rejected = machine.guest_errors.take()  # ...but its memory core logged the refusal
    assert [(r.op, r.addr, r.size, r.region) for r in rejected] == [("read", 0, 2, "hpet")]
    assert "invalid size" in rejected[0].reason
    assert hpet.readl(0) == 0x8086A201 and machine.guest_errors.take() == []


@pytest.mark.machine()
async def test_check_accesses_warns_or_raises_on_the_access_itself(machine):
    hpet = machine.ioremap(HPET, 0x400)
    machine.check_accesses("warn")
    with pytest.warns(RejectedAccessWarning, match="16-bit read at 0xfed00000.*'hpet'"):
        hpet.readw(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hpet.readl(0) == 0x8086A201  # a width HPET takes: silent
    machine.check_accesses("error")
    with pytest.raises(InvalidWidth, match="8-bit read at 0xfed00004"):
        hpet.readb(4)
    machine.check_accesses(None)
    assert hpet.readb(4) == 0
