"""The "bare" firmware: a ROM that parks the CPU so time runs but no code touches the hardware."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .stepfw import StepFirmware

if TYPE_CHECKING:
    from .boards import BoardInfo
    from .spec import MachineSpec

# x86: 64 KiB of `hlt` (0xF4); the reset vector at 0xFFFFFFF0 lands in it and halts for good
# (interrupts are off at reset). aarch64: `wfi; b .-4` repeated: the CPU sleeps at address 0.
_X86_PARK = b"\xf4" * 0x10000
_ARM_PARK = (bytes.fromhex("7f2003d5") + bytes.fromhex("ffffff17")) * (0x10000 // 8)


def write_bare_firmware(arch: str, directory: Path) -> Path:
    """Write the parking ROM for `arch` into `directory` and return its path."""
    path = directory / f"bare-{arch}.rom"
    path.write_bytes(_X86_PARK if arch == "x86_64" else _ARM_PARK)
    return path


def hello_rom(text: bytes) -> bytes:
    """A 64 KiB x86 ROM whose reset vector prints `text` on COM1 and halts: the smallest
    firmware that proves the CPU executes and the serial capture works."""
    code = b"\xba\xf8\x03"  # mov dx, 0x3f8
    for c in text:
        code += bytes([0xB0, c, 0xEE])  # mov al, c; out dx, al
    code += b"\xf4\xeb\xfd"  # hlt; jmp back to hlt
    rom = bytearray(_X86_PARK)
    rom[: len(code)] = code
    rom[0xFFF0:0xFFF3] = b"\xe9\x0d\x00"  # reset vector (CS:IP f000:fff0): jmp to offset 0
    return bytes(rom)


def _m_profile_park(stack_top: int) -> bytes:
    """Cortex-M vector table whose reset handler masks interrupts and sleeps: `cpsid i; wfi; b`."""
    entry = 0x40
    code = struct.pack("<3H", 0xB672, 0xBF30, 0xE7FD)  # cpsid i; wfi; b .-2 (back to wfi)
    vectors = [stack_top, entry | 1] + [(entry + 2) | 1] * 14
    return struct.pack("<16I", *vectors) + code


# A32 (ARMv7-A/R): `cpsid if; wfi; b .-4`, repeated so any boot offset in the first 64 KiB lands in it.
_A32_PARK = bytes.fromhex("c0000cf1") + (bytes.fromhex("03f020e3") + bytes.fromhex("fdffffea")) * 0x1FFF


@dataclass(frozen=True)
class BootImages:
    """What QEMU loads for a spec: a -bios ROM, a -kernel image, and the stepping firmware."""

    bios: Path | None = None
    kernel: Path | None = None
    step: StepFirmware | None = None


def boot_images(spec: "MachineSpec", directory: Path) -> BootImages:
    """The firmware files for `spec`, written into `directory`.

    x86 and aarch64 "bare": a parking ROM as -bios. 32-bit Arm: the board's CPU profile decides
    (asked from QEMU): Cortex-M boots a vector table QEMU loads at address 0 (-kernel), A/R
    profile a parking ROM as -bios. clock="stepped" replaces the parking code with the
    stepping firmware. A firmware path is passed as -bios (-kernel on Cortex-M boards).
    """
    from .argv import cpu_of
    from .boards import probe_board
    from .stepfw import m_profile_step_image, x86_step_rom

    if spec.firmware in ("seabios", "direct"):
        return BootImages()
    if spec.arch == "x86_64" or (spec.arch == "aarch64" and spec.clock != "stepped"):
        if spec.firmware != "bare":
            return BootImages(bios=Path(spec.firmware))
        if spec.clock == "stepped":
            step = x86_step_rom()
            path = directory / "step-x86_64.rom"
            path.write_bytes(step.image)
            return BootImages(bios=path, step=step)
        return BootImages(bios=write_bare_firmware(spec.arch, directory))
    board = probe_board(spec.arch, str(spec.machine), cpu_of(spec))
    if not board.m_profile:
        if spec.firmware != "bare":
            return BootImages(bios=Path(spec.firmware))
        if spec.clock == "stepped":
            step = _a_profile_step(spec, board)
            path = directory / f"step-{spec.arch}-{spec.machine}.rom"
            path.write_bytes(step.image)
            return BootImages(bios=path, step=step)
        path = directory / "bare-a32.rom"
        path.write_bytes(_A32_PARK)
        return BootImages(bios=path)
    if spec.firmware != "bare":
        return BootImages(kernel=Path(spec.firmware))
    ram = board.scratch_ram()
    top = (ram.end + 1) & ~7
    path = directory / f"bare-{spec.machine}.bin"
    if spec.clock == "stepped":
        step = m_profile_step_image(top - 16, top - 16)
        path.write_bytes(step.image)
        return BootImages(kernel=path, step=step)
    path.write_bytes(_m_profile_park(top))
    return BootImages(kernel=path)


def _a_profile_step(spec: "MachineSpec", board: "BoardInfo") -> StepFirmware:
    """The A/R-profile stepping image for `board`: A64 or A32 as its CPU starts, the mailbox
    in RAM past the device tree QEMU places at the start of RAM for a -bios boot."""
    from .stepfw import A_MAILBOX_OFFSET, a_profile_step_image

    if not board.counter_hz:
        raise ConfigError(f"clock='stepped' on A/R-profile boards needs a CPU with the generic "
                          f"timer (its count verifies every step); {spec.machine}'s "
                          f"{board.cpu_model} has none (QOM 'cntfrq' missing)")
    at0 = board.flat.find(0)
    if at0 is None or at0.backing == "RAM":
        raise ConfigError(f"clock='stepped': {spec.machine} has no boot ROM/flash at address 0 "
                          "for the stepping image")
    ram = board.scratch_ram()
    if ram.size < A_MAILBOX_OFFSET + 16:
        raise ConfigError(f"clock='stepped': {spec.machine}'s RAM {ram.name} at {ram.start:#x} "
                          f"holds {ram.size:#x} bytes, the mailbox needs "
                          f"{A_MAILBOX_OFFSET + 16:#x}")
    return a_profile_step_image(board.a64, ram.start + A_MAILBOX_OFFSET, board.counter_hz)
