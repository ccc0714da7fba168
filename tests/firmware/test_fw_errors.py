"""Each way the firmware story can go wrong is a clear error, and the machine is torn down:
an unbuilt, truncated or corrupted ELF, a missing symbol or DWARF, a firmware that fails
or never comes up."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from fw_helpers import assert_torn_down, objcopy

from driverkit import Machine
from driverkit.errors import (
    ArtifactMissing,
    ElfError,
    FirmwareError,
    MachineDied,
    MachineTimeout,
    SymbolNotFound,
)
from driverkit.firmware import FirmwareMailbox, firmware_path, firmware_spec


def test_unbuilt_firmware_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIVERKIT_CACHE", str(tmp_path))
    with pytest.raises(ArtifactMissing, match="run scripts/build-guest") as exc:
        firmware_spec("mem=200M")
    assert str(tmp_path / "firmware" / "fw.elf") in str(exc.value)
    with pytest.raises(ArtifactMissing):
        firmware_path()


def test_truncated_elf_is_refused_before_qemu_starts(fw_elf, tmp_path):
    data = fw_elf.read_bytes()
    cut = tmp_path / "truncated.elf"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ElfError, match=r"truncated\.elf: truncated: .* file has only"):
        firmware_spec(path=cut)


@pytest.mark.parametrize("offset, byte, reason", [
    (0, 0x00, "not an ELF file"),            # magic
    (4, 0x07, "EI_CLASS is 7"),
])
def test_corrupted_elf_is_refused(fw_elf, tmp_path, offset, byte, reason):
    data = bytearray(fw_elf.read_bytes())
    data[offset] = byte
    bad = tmp_path / "corrupt.elf"
    bad.write_bytes(bytes(data))
    with pytest.raises(ElfError, match=reason):
        firmware_spec(path=bad)


def test_a_64bit_elf_is_not_a_multiboot_firmware(tmp_path):
    with pytest.raises(ElfError, match="must be a 32-bit EM_386 image"):
        firmware_spec(path=Path("/bin/true").resolve())


async def test_corrupt_image_at_attach_then_clean_teardown(fw_elf, tmp_path):
    """The machine booted the good firmware; the driver is handed a damaged copy."""
    data = fw_elf.read_bytes()
    cut = tmp_path / "short.elf"
    cut.write_bytes(data[:200])
    m = Machine(firmware_spec("", devices=(), path=fw_elf))
    with pytest.raises(ElfError, match="truncated"):
        async with m:
            await FirmwareMailbox.attach(m, cut)
    assert_torn_down(m)


async def test_missing_symbol_is_named(fw_elf, tmp_path):
    stripped = objcopy(fw_elf, tmp_path / "nosym.elf", "--strip-symbol=carveout_base")
    m = Machine(firmware_spec("", devices=(), path=stripped))    # boots: symbols are not code
    with pytest.raises(SymbolNotFound, match=r"no symbol 'carveout_base' in .*nosym\.elf") as e:
        async with m:
            await FirmwareMailbox.attach(m, timeout=20)
    assert "did you mean" in str(e.value)               # close names, e.g. carveout_size
    assert_torn_down(m)


async def test_missing_dwarf_is_explained(fw_elf, tmp_path):
    nodebug = objcopy(fw_elf, tmp_path / "nodebug.elf", "--strip-debug")
    m = Machine(firmware_spec("", devices=(), path=nodebug))
    with pytest.raises(ElfError, match=r"no DWARF debug info \(build with -g\).*'mailbox'"):
        async with m:
            await FirmwareMailbox.attach(m)
    assert_torn_down(m)


async def test_firmware_failure_carries_its_reason(fw_elf):
    m = Machine(firmware_spec("carveout=1Mx", devices=(), path=fw_elf))
    with pytest.raises(FirmwareError, match=r"failed to start: is not a size \(memparse"):
        async with m:
            await FirmwareMailbox.attach(m, timeout=20)
    assert_torn_down(m)


async def test_firmware_that_never_starts_hits_the_deadline(fw_elf):
    """-S: QEMU starts with the CPU stopped, so fw_state stays BOOTING."""
    m = Machine(firmware_spec("", devices=(), path=fw_elf, extra_args=("-S",)))
    with pytest.raises(MachineTimeout, match="leave BOOTING"):
        async with m:
            await FirmwareMailbox.attach(m, timeout=0.3)
    assert_torn_down(m)


async def test_qemu_dying_mid_request_is_machine_died(fw_elf):
    m = Machine(firmware_spec("", devices=(), path=fw_elf))
    async with m:
        fw = await FirmwareMailbox.attach(m, timeout=20)
        await m.execute("stop")                        # the request stays unanswered
        os.kill(m.process.pid, signal.SIGKILL)
        with pytest.raises(MachineDied, match="signal 9|exit status"):
            await fw.echo(1, timeout=5)
    assert_torn_down(m)
