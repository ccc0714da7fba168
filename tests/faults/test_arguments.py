"""Wrong argument types are DriverkitErrors raised before anything reaches QEMU.

Bools are not ints here and strings are not lists; QEMU aborts on a malformed
qtest command, so each refusal is followed by a check that QEMU is still fine.
"""

from __future__ import annotations

import pytest
from construct import Int32ul

from driverkit import Machine, MachineSpec
from driverkit.errors import ArgumentTypeError, ConfigError, DriverkitError, RegisterError
from driverkit.regs import RO, RW, Register, RegisterMap

HPET = 0xFED00000
HPET_ID = 0x8086A201


class HpetRegs(RegisterMap):
    id = Register(0x00, Int32ul, RO)
    comparator = Register(0x108, Int32ul, RW)


BAD_CALLS = [
    ("readl(4.0)", lambda io: io.readl(4.0)),
    ("readl('4')", lambda io: io.readl("4")),
    ("readl(True)", lambda io: io.readl(True)),
    ("readq(None)", lambda io: io.readq(None)),
    ("read_width(0, 4.0)", lambda io: io.read_width(0, 4.0)),
    ("write(0, 'str')", lambda io: io.write(0, "str")),
    ("write(0, [1, 2])", lambda io: io.write(0, [1, 2])),
    ("writel(0x108, True)", lambda io: io.writel(0x108, True)),
    ("writel(0x108, 1.0)", lambda io: io.writel(0x108, 1.0)),
    ("writel('0x108', 1)", lambda io: io.writel("0x108", 1)),
    ("writeb(0, '1')", lambda io: io.writeb(0, "1")),
    ("read(0, 4.0)", lambda io: io.read(0, 4.0)),
    ("memset(0, True, 4)", lambda io: io.memset(0, True, 4)),
    ("read_many('0', 4)", lambda io: io.read_many("0", 4)),
    ("read_many([0.0], 4)", lambda io: io.read_many([0.0], 4)),
    ("read_many([0], True)", lambda io: io.read_many([0], True)),
]


@pytest.mark.parametrize("call", [c for _, c in BAD_CALLS], ids=[n for n, _ in BAD_CALLS])
async def test_iomem_refuses_wrong_types_before_qemu(call):
    async with Machine() as m:
        io = m.ioremap(HPET, 0x400)
        with pytest.raises(DriverkitError) as info:
            call(io)
        assert str(info.value)  # a message naming what was wrong
        assert m.qtest.owed == 0  # nothing was sent
        assert io.readl(0) == HPET_ID and m.alive


async def test_channel_ports_and_ioremap_refuse_wrong_types():
    async with Machine() as m:
        for call in (lambda: m.qtest.read(float(HPET), 4), lambda: m.qtest.write(HPET, 4, True),
                     lambda: m.qtest.pio_write(0x80, 1, "1"), lambda: m.qtest.read_bytes(HPET, 2.0),
                     lambda: m.ioremap(float(HPET), 8), lambda: m.ioremap(HPET, "8"),
                     lambda: m.ioport_map(0x80, 1).writeb(0, 1.5)):
            with pytest.raises(DriverkitError):
                call()
        assert m.ioremap(HPET, 8).readl(0) == HPET_ID


async def test_register_assignment_does_not_replace_the_accessor():
    async with Machine() as m:
        regs = HpetRegs(m.ioremap(HPET, 0x400))
        with pytest.raises(RegisterError, match=r"comparator is a register.*\.comparator\.write\(5\)"):
            regs.comparator = 5
        with pytest.raises(RegisterError, match="id is a register"):
            regs.id = 5
        regs.comparator.write(7)
        assert regs.comparator.read() == 7 and regs.id.read() == HPET_ID


@pytest.mark.parametrize("fields, message", [
    ({"devices": [1, 2]}, "devices must hold strings only; 1 is a int"),
    ({"devices": "edu"}, "not one string"),
    ({"shared_ram": "no"}, "shared_ram must be True or False"),
    ({"shared_ram": 1}, "shared_ram must be True or False"),
    ({"memory": True}, "memory must be bytes"),
    ({"memory": 2.5e8}, "memory must be bytes"),
    ({"arch": 64}, "arch must be a string"),
    ({"kernel": 5}, "kernel must be a string"),
    ({"startup_timeout": "2"}, "startup_timeout must be seconds"),
    ({"extra_args": [1]}, "extra_args must hold strings only"),
    ({"extra_args": b"-S"}, "extra_args must be a list of strings"),
])
def test_spec_refuses_wrong_types(fields, message):
    with pytest.raises(ConfigError, match=message):
        MachineSpec(**fields)


def test_machine_refuses_a_spec_that_is_not_one():
    with pytest.raises(ArgumentTypeError, match="needs a MachineSpec"):
        Machine("q35")


async def test_extra_args_as_one_string_is_split_like_a_shell():
    spec = MachineSpec(extra_args="-S -name 'dk test'")
    assert spec.extra_args == ("-S", "-name", "dk test")
    async with Machine(spec) as m:  # -S: the CPU waits for 'cont'
        assert (await m.execute("query-status"))["status"] == "prelaunch"
        assert (await m.execute("query-name"))["name"] == "dk test"
