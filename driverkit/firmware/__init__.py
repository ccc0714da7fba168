"""The bare-metal test firmware (guest/firmware) from the host: boot it, drive its mailbox,
and check its carve-out against driverkit.mem's memblock model.

    spec = firmware_spec("mem=200M carveout=1M")             # ArtifactMissing if not built
    async with Machine(spec) as m:
        fw = await FirmwareMailbox.attach(m)                  # symbols + DWARF from the ELF
        await fw.crc32(0x1000, 64)                            # MailboxError on an error reply
    predict_carveout("q35", "256M", "mem=200M carveout=1M").base   # 0xc700000
"""

from __future__ import annotations

from .mailbox import (
    PROTOCOL_VERSION,
    CarveoutInfo,
    Command,
    EduFactorial,
    FirmwareMailbox,
    FwState,
    Reply,
)
from .model import (
    CarveoutPrediction,
    carveout_plan,
    firmware_map,
    parse_console_map,
    predict_carveout,
)
from .spec import check_firmware_image, firmware_path, firmware_spec

__all__ = [
    "PROTOCOL_VERSION",
    "CarveoutInfo",
    "CarveoutPrediction",
    "Command",
    "EduFactorial",
    "FirmwareMailbox",
    "FwState",
    "Reply",
    "carveout_plan",
    "check_firmware_image",
    "firmware_map",
    "firmware_path",
    "firmware_spec",
    "parse_console_map",
    "predict_carveout",
]
