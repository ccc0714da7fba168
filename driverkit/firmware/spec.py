"""Where the bare-metal test firmware is built, and a MachineSpec that boots it.

guest/firmware/build.sh (run by scripts/build-guest) puts `fw.elf` under the artifact cache.
QEMU's multiboot loader is an option ROM SeaBIOS runs, so the spec always uses SeaBIOS.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..cache import cache_dir
from ..elf import ElfImage
from ..errors import ArtifactMissing, ConfigError, ElfError
from ..machine.spec import MachineSpec

FIRMWARE_FILE = Path("firmware") / "fw.elf"
BUILD_HINT = "run scripts/build-guest (or guest/firmware/build.sh CACHE_DIR for the firmware alone)"
#: The multiboot command line lives in a 512-byte buffer in the firmware (main.c).
CMDLINE_MAX = 511


def firmware_path(cache: str | os.PathLike[str] | None = None) -> Path:
    """The built fw.elf under `cache` (default: the artifact cache); ArtifactMissing if absent."""
    path = (Path(cache) if cache is not None else cache_dir()) / FIRMWARE_FILE
    if not path.is_file():
        raise ArtifactMissing(f"the test firmware {path} is not built; {BUILD_HINT}")
    return path


def check_firmware_image(path: str | os.PathLike[str]) -> ElfImage:
    """Open `path` and refuse what QEMU's multiboot loader cannot boot, before QEMU starts."""
    img = ElfImage.open(path)
    if img.machine != "EM_386" or img.elfclass != 32:
        raise ElfError(f"{path}: a {img.elfclass}-bit {img.machine} ELF; the multiboot firmware "
                       "must be a 32-bit EM_386 image")
    if not img.segments:
        raise ElfError(f"{path}: no PT_LOAD segments, nothing for the multiboot loader to load")
    return img


def firmware_spec(
    cmdline: str = "",
    *,
    machine: str = "q35",
    memory: int | str = "256M",
    devices: tuple[str, ...] | list[str] = ("edu",),
    path: str | os.PathLike[str] | None = None,
    **kw: Any,
) -> MachineSpec:
    """A SeaBIOS x86_64 machine that boots the test firmware with `cmdline`
    (mem=, carveout=, align=; see guest/firmware/README.md).

    `path` defaults to the built fw.elf (ArtifactMissing with the build hint if it is not
    there); a corrupt or truncated file is an ElfError here, before any QEMU starts.
    Other keywords go to MachineSpec (accel, extra_args, startup_timeout, ...).
    """
    if "\n" in cmdline:
        raise ConfigError("the firmware command line must be one line")
    if len(cmdline) > CMDLINE_MAX:
        raise ConfigError(f"the firmware command line is {len(cmdline)} bytes; its buffer holds "
                          f"{CMDLINE_MAX}")
    for bad in ("arch", "firmware", "kernel", "append"):
        if bad in kw:
            raise ConfigError(f"firmware_spec sets {bad!r} itself")
    elf = Path(path) if path is not None else firmware_path()
    check_firmware_image(elf)
    return MachineSpec(machine=machine, memory=memory, firmware="seabios", kernel=str(elf),
                       append=cmdline, devices=list(devices), **kw)
