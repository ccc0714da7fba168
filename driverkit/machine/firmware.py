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
