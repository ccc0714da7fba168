"""from_rdl on the SystemRDL description of QEMU's edu (devices/edu.rdl), against the driver's
hand-written map and the live device; bad RDL is a clear error."""

from __future__ import annotations

import pytest

from driverkit.devices.edu import VENDOR, EduRegs
from driverkit.errors import DescriptionError, UnknownPeripheral
from driverkit.regs.rdl import from_rdl


def _facts(cls):
    return [(s.path, s.offset, s.reg.width, s.reg.access, s.reg.reset, s.reg.widths,
             s.reg.side_effects) for s in cls.layout()]


def test_rdl_map_says_what_the_driver_says(edu_rdl):
    rdl = from_rdl(edu_rdl)
    assert _facts(rdl) == _facts(EduRegs)
    assert rdl.status.field_access == {"computing": EduRegs.status.field_access["computing"]}
    assert rdl.liveness.readback(0x12345678) == 0xEDCBA987


@pytest.mark.machine(devices=["edu"])
async def test_rdl_map_holds_on_the_live_device(machine, edu_rdl, tmp_path):
    dev = machine.pci.find(vendor=VENDOR)
    dev.enable()
    bar = dev.iomap(0)
    report = from_rdl(edu_rdl).check(bar)
    assert report.ok, str(report)
    regs = from_rdl(edu_rdl)(bar)
    assert regs.id.read().major == 1 and regs.id.read().ed == 0xED
    # a description that disagrees with the silicon is reported where it disagrees
    wrong = tmp_path / "edu-wrong.rdl"
    wrong.write_text(edu_rdl.read_text().replace("major[31:24] = 0x1", "major[31:24] = 0x2"))
    bad = from_rdl(wrong).check(bar)
    assert not bad.ok and [f.register for f in bad.mismatches] == ["id"]


def test_cli_check_rdl_on_a_bar(cli, edu_rdl):
    out = cli.json("check", "--rdl", str(edu_rdl), "--device", "edu", "--bdf", "00:01.0")
    assert out["ok"] is True and out["base_from"] == "00:01.0 BAR0"
    r = cli("regs", "--rdl", str(edu_rdl), "--device", "edu", "--bdf", "1.0")
    assert r.returncode == 0 and "id          RO   0x010000ed  major=1 minor=0 ed=0xed" in r.stdout
    err = cli.json("regs", "--rdl", str(edu_rdl), "--device", "edu", rc=2)
    assert "no base address" in err["error"]


def test_bad_rdl_is_a_clear_error(tmp_path, edu_rdl):
    f = tmp_path / "bad.rdl"
    f.write_text("addrmap x {\n  reg { field {} a[3:0]; } r @ 0x0\n")
    with pytest.raises(DescriptionError, match=r"bad.rdl:\d+: error"):
        from_rdl(f)
    with pytest.raises(UnknownPeripheral, match="no addrmap 'nope'"):
        from_rdl(edu_rdl, "nope")
    g = tmp_path / "odd.rdl"
    g.write_text("addrmap y { reg { dk_readback = \"twice\"; field {} a[31:0]; } r @ 0; };")
    with pytest.raises(DescriptionError):
        from_rdl(g)


def test_rdl_arrays_regfiles_and_access_kinds(tmp_path):
    f = tmp_path / "blk.rdl"
    f.write_text("""
addrmap blk {
    default regwidth = 32;
    reg ctl_t { field { sw = rw; } en[0:0] = 0; field { sw = r; } busy[1:1] = 0; };
    reg irq_t { field { sw = rw; onwrite = woclr; } pend[3:0] = 0; };
    reg cnt_t { field { sw = r; onread = rclr; } n[15:0] = 0; };
    regfile chan_t { ctl_t ctl @ 0x0; cnt_t cnt @ 0x4; };
    irq_t irq @ 0x0;
    ctl_t lanes[4] @ 0x10 += 0x8;
    chan_t chan[2] @ 0x100 += 0x10;
};""")
    blk = from_rdl(f)
    offs = {s.path: s.offset for s in blk.layout()}
    assert [offs[f"lanes[{i}]"] for i in range(4)] == [0x10, 0x18, 0x20, 0x28]
    assert offs["chan[1].ctl"] == 0x110 and offs["chan[1].cnt"] == 0x114
    kinds = {s.path: s.reg.access for s in blk.layout()}
    assert kinds["irq"].name == "W1C" and kinds["chan[0].cnt"].name == "RC"
    assert blk.lanes.register.field_access["busy"].name == "RO"
