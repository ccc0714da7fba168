"""Capability walk: decoded MSI/MSI-X on real devices; malformed chains on a FAKE config blob."""

from __future__ import annotations

import pytest

from driverkit import Machine, MachineSpec
from driverkit.errors import PciError
from driverkit.pci.caps import (
    CAP_EXP,
    CAP_MSI,
    CAP_MSIX,
    MsiCapability,
    MsixCapability,
    walk_capabilities,
)


async def test_msi_and_msix_capabilities_of_real_devices():
    spec = MachineSpec(devices=["edu", "pcie-root-port,id=rp1,chassis=1", "nvme,serial=dk1"])
    async with Machine(spec) as m:
        edu = m.pci.find(0x1234, 0x11E8)
        msi = edu.find_capability(CAP_MSI)
        assert isinstance(msi, MsiCapability)
        assert msi.offset >= 0x40 and not msi.enabled
        assert edu.read_config(msi.offset, 1) == CAP_MSI
        assert edu.find_capability(CAP_MSIX) is None
        port = m.pci.find(0x1B36, 0x000C)
        assert [c.id for c in port.capabilities][:1] == [CAP_EXP]
        nvme = m.pci.find(0x1B36, 0x0010)
        msix = nvme.find_capability(CAP_MSIX)
        assert isinstance(msix, MsixCapability)
        assert msix.table_size >= 1 and msix.table_bar in nvme.bars
        table_end = msix.table_offset + 16 * msix.table_size
        assert table_end <= nvme.bars[msix.table_bar].size
        assert {"id": CAP_MSIX, "offset": msix.offset}.items() <= msix.to_dict().items()


def _fake_config(chain: list[tuple[int, int, int]]) -> bytearray:
    """FAKE config space (pure-logic test): [(offset, id, next)] plus the 0x34 pointer."""
    cfg = bytearray(256)
    cfg[0x34] = chain[0][0]
    for off, cap_id, nxt in chain:
        cfg[off], cfg[off + 1] = cap_id, nxt
    return cfg


def _reader(cfg: bytearray):
    return lambda off, width: int.from_bytes(cfg[off:off + width], "little")


def test_walk_follows_the_chain_in_order():
    cfg = _fake_config([(0x40, 0x01, 0x50), (0x50, 0x09, 0x00)])
    assert [(c.id, c.offset) for c in walk_capabilities(_reader(cfg), 0x10)] == [(1, 0x40), (9, 0x50)]
    assert walk_capabilities(_reader(cfg), 0x00) == []  # status says: no list


@pytest.mark.parametrize("chain, why", [
    ([(0x40, 0x01, 0x50), (0x50, 0x05, 0x40)], "0x40"),  # a loop
    ([(0x40, 0x01, 0x20)], "0x20"),  # pointing into the header
])
def test_walk_refuses_broken_chains(chain, why):
    cfg = _fake_config(chain)
    with pytest.raises(PciError, match=f"broken capability list.*{why}"):
        walk_capabilities(_reader(cfg), 0x10, "00:01.0")
