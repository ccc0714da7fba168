"""Under SeaBIOS the framework reuses the firmware's assignment; QMP query-pci must agree."""

from __future__ import annotations

from driverkit import Machine, MachineSpec
from driverkit.pci import wait_for_firmware
from driverkit.pci.config import EcamConfigAccess, PortConfigAccess
from driverkit.pci.firmware import firmware_ready

EDU = (0x1234, 0x11E8)


def _qmp_functions(buses: list[dict]) -> dict[tuple[int, int, int], dict]:
    out = {}

    def walk(devices: list[dict]) -> None:
        for d in devices:
            out[(d["bus"], d["slot"], d["function"])] = d
            walk(d.get("pci_bridge", {}).get("devices", []))

    for bus in buses:
        walk(bus["devices"])
    return out


async def _cross_check(m: Machine) -> int:
    qmp = _qmp_functions(await m.execute("query-pci"))
    assert set(qmp) == {d.bdf for d in m.pci}
    checked = 0
    for d in m.pci:
        q = qmp[d.bdf]
        assert (q["id"]["vendor"], q["id"]["device"]) == (d.vendor, d.device)
        regions = {r["bar"]: r for r in q["regions"]}
        assert set(regions) == set(d.bars)
        for i, bar in d.bars.items():
            r = regions[i]
            assert r["size"] == bar.size
            assert r["type"] == ("io" if bar.kind == "io" else "memory")
            want = 0 if r["address"] == -1 else r["address"]  # -1: unassigned
            assert bar.address == want, (d, i)
            checked += 1
        if d.is_bridge:
            b = q["pci_bridge"]["bus"]
            assert (b["secondary"], b["subordinate"]) == (d.secondary_bus, d.subordinate_bus)
    return checked


async def test_seabios_q35_assignment_is_reused_over_ecam_and_matches_query_pci():
    devices = ["edu", "pcie-root-port,id=rp1,chassis=1", "edu,bus=rp1",
               "pci-bridge,id=br1,chassis_nr=2", "edu,bus=br1,addr=3"]
    async with Machine(MachineSpec(machine="q35", firmware="seabios", devices=devices)) as m:
        assert isinstance(m.pci.cfg, EcamConfigAccess) and m.pci.cfg.base == 0xB0000000
        assert await _cross_check(m) >= 5
        edus = m.pci.find_all(*EDU)
        assert len(edus) == 3
        for edu in edus:
            assert edu.bars[0].address  # SeaBIOS placed them; we did not move them
            edu.enable()
            assert edu.iomap(0).readl(0) == 0x010000ED


async def test_seabios_pc_uses_ports_and_matches_query_pci():
    async with Machine(MachineSpec(machine="pc", firmware="seabios",
                                   devices=["edu", "pci-testdev"])) as m:
        # Machine.start already waited for SeaBIOS's PCI setup, so ports are safe at once.
        assert firmware_ready(m)
        await wait_for_firmware(m)  # idempotent
        assert isinstance(m.pci.cfg, PortConfigAccess)
        assert await _cross_check(m) >= 3


async def test_bare_assignment_matches_query_pci_too():
    # query-pci shows a BAR as -1 until its decoding is on, so enable first
    async with Machine(MachineSpec(machine="q35", devices=["edu", "pci-testdev"])) as m:
        for d in m.pci:
            if d.bars:
                d.enable(master=False)
        assert await _cross_check(m) >= 3
