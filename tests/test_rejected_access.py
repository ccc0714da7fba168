"""Accesses QEMU drops (a width the device refuses): QEMU's own guest_errors log says so, and
every read through driverkit raises InvalidWidth for it by default (Machine.check_accesses
"warn" and None are the opt-outs). Posted writes are told apart from the read that finds
their refusal, and a refusal that is not driverkit's (a raw qtest call, the guest's CPU) is
never blamed on the access that happens to look."""

from __future__ import annotations

import warnings

import pytest

from driverkit import Machine, MachineSpec
from driverkit.errors import ConfigError, InvalidWidth, RejectedAccessWarning

HPET = 0xFED00000
FW_CFG_CTL = 0x510  # QEMU's fw_cfg selector port: it accepts 16-bit writes only


@pytest.mark.machine()
async def test_hpet_16_bit_read_is_rejected_by_qemu_not_read_as_zero(machine):
    machine.guest_errors.take()
    assert machine.qtest.read(HPET, 2) == 0  # what QEMU answers over qtest: no error...
    rejected = machine.guest_errors.take()  # ...but its memory core logged the refusal
    assert [(r.op, r.addr, r.size, r.region) for r in rejected] == [("read", 0, 2, "hpet")]
    assert "invalid size" in rejected[0].reason
    assert machine.qtest.read(HPET, 4) == 0x8086A201 and machine.guest_errors.take() == []


@pytest.mark.machine()
async def test_a_refused_read_raises_by_default_on_the_read_itself(machine):
    assert machine.access_policy == "error"
    hpet = machine.ioremap(HPET, 0x400)
    with pytest.raises(InvalidWidth, match=r"16-bit read at 0xfed00000: QEMU did not perform "
                       r"it .*offset 0x0 of region 'hpet': invalid size") as exc:
        hpet.readw(0)
    assert [(r.op, r.addr, r.size) for r in exc.value.rejected] == [("read", 0, 2)]
    with pytest.raises(InvalidWidth, match="8-bit read at 0xfed00007"):
        hpet.readb(7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hpet.readl(0) == 0x8086A201  # a width HPET takes: silent
    with pytest.raises(InvalidWidth, match="8-bit read at 0xfed00004"):
        hpet.read_width(4, 1)  # the register layer's road (RegisterIo.read_width)


@pytest.mark.machine()
async def test_a_refused_port_read_raises_too(machine):
    ctl = machine.ioport_map(FW_CFG_CTL, 2)
    with pytest.raises(InvalidWidth, match=r"16-bit read at port 0x510: .*region 'fwcfg': rejected"):
        ctl.readw(0)
    ctl.writew(0, 0)  # a width and direction it takes: no error at the next sync
    machine.sync()


@pytest.mark.machine()
async def test_read_many_attributes_each_line_to_its_own_read(machine):
    hpet = machine.ioremap(HPET, 0x400)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no line of the batch is called "not this access"
        with pytest.raises(InvalidWidth, match="16-bit read at 0xfed00000") as exc:
            hpet.read_many([0, 4, 8], 2)
    assert [r.addr for r in exc.value.rejected] == [0, 4, 8]
    assert hpet.read_many([0, 4], 4) == [0x8086A201, hpet.readl(4)]


@pytest.mark.machine()
async def test_a_refused_posted_write_is_named_at_the_next_read_not_blamed_on_it(machine):
    hpet = machine.ioremap(HPET, 0x400)
    hpet.writew(0x10, 1)  # posted: returns before QEMU has run (and refused) it
    with pytest.raises(InvalidWidth) as exc:
        hpet.readl(0)
    msg = str(exc.value)
    assert "an earlier write was refused (16-bit write of 0x1 at 0xfed00010: " in msg
    assert "16-bit write at offset 0x10 of region 'hpet'" in msg
    assert "reported at this 32-bit read at 0xfed00000, which QEMU performed" in msg
    assert "did not perform" not in msg  # the read itself is not blamed
    assert [(r.op, r.addr, r.size) for r in exc.value.rejected] == [("write", 0x10, 2)]
    hpet.writeb(0x10, 1)
    with pytest.raises(InvalidWidth, match=r"earlier write .*8-bit write at offset 0x10.* at "
                       "this sync"):
        machine.sync()
    assert hpet.readl(0) == 0x8086A201  # reported once, then the channel is clean


@pytest.mark.machine()
async def test_a_refusal_that_is_not_driverkits_only_warns(machine):
    hpet = machine.ioremap(HPET, 0x400)
    machine.qtest.read(HPET, 2)  # a raw qtest call: unchecked, not this mapping's
    with pytest.warns(RejectedAccessWarning, match="not this 32-bit read at 0xfed00000.*"
                      "16-bit read at offset 0x0 of region 'hpet'"):
        assert hpet.readl(0) == 0x8086A201  # the right value, not an error
    machine.qtest.write(HPET + 0x10, 2, 1)  # a raw write: no traced write of driverkit's
    with pytest.warns(RejectedAccessWarning, match="nor a write driverkit made .*16-bit write "
                      "at offset 0x10 of region 'hpet'"):
        assert hpet.readl(0) == 0x8086A201


@pytest.mark.machine()
async def test_with_the_trace_off_a_refused_write_still_raises_unnamed(machine):
    hpet = machine.ioremap(HPET, 0x400)
    machine.trace.enabled = False  # no record to tell driverkit's writes from others
    try:
        hpet.writew(0x10, 1)
        with pytest.raises(InvalidWidth, match=r"an earlier write was refused \(QEMU rejected a "
                           "16-bit write at offset 0x10"):
            machine.sync()
    finally:
        machine.trace.enabled = True


@pytest.mark.machine()
async def test_warn_and_off_are_the_opt_outs(machine):
    hpet = machine.ioremap(HPET, 0x400)
    machine.check_accesses("warn")
    with pytest.warns(RejectedAccessWarning, match="16-bit read at 0xfed00000.*'hpet'"):
        assert hpet.readw(0) == 0
    machine.check_accesses(None)
    assert machine.access_policy is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hpet.readb(4) == 0  # off: QEMU's 0, as it answered
    machine.check_accesses("error")  # what the unchecked read left is not the next one's
    assert hpet.readl(0) == 0x8086A201
    with pytest.raises(ConfigError, match="'loud'"):
        machine.check_accesses("loud")


async def test_the_policy_can_be_chosen_before_start():
    m = Machine(MachineSpec())
    m.check_accesses(None)
    async with m:
        assert m.access_policy is None
        assert m.ioremap(HPET, 0x400).readw(0) == 0


def test_the_log_reader_never_turns_an_unreadable_log_into_nothing_refused(tmp_path):
    """The log file itself (no QEMU needed): missing is "nothing logged yet"; unreadable is an
    error; a flood past MAX_CHUNK says what it skipped before the newest lines."""
    from driverkit.errors import MachineError
    from driverkit.transport.guest_errors import MAX_CHUNK, GuestErrorLog

    assert GuestErrorLog(tmp_path / "not-yet.log").take() == []
    with pytest.raises(MachineError, match="cannot read QEMU's guest_errors log"):
        GuestErrorLog(tmp_path).take()  # a directory: open works, the read fails
    line = b"Invalid read at addr 0x0, size 2, region 'hpet', reason: invalid size (min:4 max:4)\n"
    flood = tmp_path / "flood.log"
    flood.write_bytes(line * (2 * MAX_CHUNK // len(line)))
    got = GuestErrorLog(flood).take()
    assert got[0].region == "(QEMU's log)" and "bytes of it skipped" in got[0].reason
    assert len(got) > 1000 and all(r.region == "hpet" for r in got[1:])
