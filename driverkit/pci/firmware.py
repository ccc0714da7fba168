"""Waiting, race-free, for a real firmware (SeaBIOS) to finish PCI setup.

On pc there is no ECAM: config space is reachable only through ports 0xcf8/0xcfc, which the
firmware uses too, so polling them while SeaBIOS runs corrupts both sides. QMP `query-pci`
reads QEMU's state directly; a BAR shows an address there only once decoding is on, which
SeaBIOS does per device as its last PCI step.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from ..errors import MachineTimeout

POLL = 0.01
STABLE_POLLS = 3
GIVE_UP_ON_UNASSIGNED = 1.0  # a BAR the firmware could not fit stays -1 forever


class _Spec(Protocol):
    @property
    def firmware(self) -> str: ...


class FirmwareHost(Protocol):
    """What the wait needs: the firmware in use, QMP, and a place to remember it is done."""

    firmware_ready: bool

    @property
    def spec(self) -> _Spec: ...

    async def execute(self, cmd: str, args: dict | None = None, timeout: float = ...) -> Any: ...


def _state(buses: list[dict]) -> tuple[list, bool]:
    """(a comparable snapshot, every BAR of every non-host-bridge function decoded)."""
    snap, done = [], True

    def walk(devices: list[dict]) -> None:
        nonlocal done
        for d in devices:
            addrs = [r["address"] for r in d.get("regions", [])]
            snap.append((d["bus"], d["slot"], d["function"], addrs,
                         d.get("pci_bridge", {}).get("bus", {}).get("secondary")))
            if d.get("class_info", {}).get("class") != 0x0600 and -1 in addrs:
                done = False
            walk(d.get("pci_bridge", {}).get("devices", []))

    for bus in buses:
        walk(bus["devices"])
    return snap, done


async def wait_for_firmware(machine: FirmwareHost, timeout: float = 5.0) -> None:
    """Return once the firmware's PCI assignment is complete and stable (QMP only)."""
    if machine.spec.firmware == "bare" or machine.firmware_ready:
        machine.firmware_ready = True
        return
    loop = asyncio.get_running_loop()
    start = loop.time()
    last, same = None, 0
    while True:
        snap, done = _state(await machine.execute("query-pci"))
        same = same + 1 if snap == last else 0
        last = snap
        elapsed = loop.time() - start
        if same >= STABLE_POLLS and (done or elapsed > GIVE_UP_ON_UNASSIGNED):
            machine.firmware_ready = True
            return
        if elapsed > timeout:
            raise MachineTimeout("the firmware to finish PCI setup (query-pci)", timeout)
        await asyncio.sleep(POLL)


def firmware_ready(machine: FirmwareHost) -> bool:
    """True once wait_for_firmware has seen the firmware's PCI setup complete."""
    return machine.firmware_ready
