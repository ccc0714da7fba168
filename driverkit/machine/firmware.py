"""The "bare" firmware: a ROM that parks the CPU so time runs but no code touches the hardware."""

from __future__ import annotations

from pathlib import Path

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
