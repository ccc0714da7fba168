"""What driverkit.mem predicts for the test firmware's carve-out, and the map that shows it.

The firmware (guest/firmware/memmap.c) runs memblock's rules on the multiboot map: sanitise
(non-RAM wins), cut at mem=, merge, trim to pages, reserve [0, 1 MiB) and its own image, then
allocate top-down below min(mem=, 4 GiB). This module puts the same request to driverkit.mem's
Memblock over the same map: the predicted SeaBIOS e820 (driverkit.mem.firmware_e820) or the
map the firmware printed (`parse_console_map`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..elf import ElfImage
from ..errors import MemModelError
from ..mem import E820Entry, E820Type, MemPlan, firmware_e820, memparse, plan
from ..mem.cmdline import split_args
from ..mem.memblock import Memblock
from ..units import parse_size

MiB = 1 << 20
FOUR_GIB = 1 << 32
NAME = "firmware carve-out"
#: SeaBIOS high-table block under driverkit's `-nodefaults` machines, measured (QEMU 7.2,
#: SeaBIOS 1.16, 256M..5G, with and without edu/pci-testdev): 0x20000 on both pc and q35
#: (driverkit.mem's default 0x21000 for q35 was measured with QEMU's default devices).
NODEFAULTS_HIGH_TABLES = 0x20000
DEFAULT_SIZE = MiB
DEFAULT_ALIGN = 4096
MAILBOX_SIZE = 0x148             # protocol version 1; taken from the DWARF when there is an ELF


@dataclass(frozen=True)
class CarveoutPrediction:
    """The model's answer: `base` (None when the firmware would report FAILED: `failure`)."""

    base: int | None
    size: int
    align: int
    limit: int                       # allocation end: min(mem=, 4 GiB)
    mem_limit: int                   # the mem= value (0: none), as the firmware publishes it
    ram: list[tuple[int, int]] = field(default_factory=list)        # [start, end) after mem=/trim
    reserved: list[tuple[int, int]] = field(default_factory=list)
    failure: str | None = None


def _param(cmdline: str, key: str) -> str | None:
    """The firmware's `key=value` lookup: whole words, a non-empty value, the last one wins."""
    value = None
    for k, v in split_args(cmdline):
        if k == key and v:
            value = v
    return value


def _size_param(cmdline: str, key: str, default: int) -> tuple[int, str | None]:
    text = _param(cmdline, key)
    if text is None:
        return default, None
    value, end = memparse(text)
    if end != len(text) or end == 0:
        return 0, f"{key}={text} is not a size (memparse stopped early)"
    return value, None


def parse_console_map(serial: str) -> list[E820Entry]:
    """The multiboot map as the firmware printed it (`  mmap 0xA-0xB usable|reserved`)."""
    out = []
    for line in serial.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "mmap" and "-" in parts[1]:
            lo, hi = (int(x, 16) for x in parts[1].split("-"))
            typ = E820Type.RAM if parts[2] == "usable" else E820Type.RESERVED
            out.append(E820Entry(lo, hi + 1 - lo, typ))
    return out


def firmware_map(machine: str = "q35", memory: int | str = "256M") -> list[E820Entry]:
    """driverkit.mem's prediction of the map SeaBIOS hands the multiboot loader (-nodefaults)."""
    return firmware_e820(machine, parse_size(memory, "memory"), high_tables=NODEFAULTS_HIGH_TABLES)


def _image_facts(image: ElfImage | tuple[int, int] | None) -> tuple[int, int, int]:
    """[_image_start, _image_end) and sizeof(struct mailbox) of the firmware image."""
    if isinstance(image, tuple):
        return image[0], image[1], MAILBOX_SIZE
    if image is None:
        from .spec import firmware_path

        image = ElfImage.open(firmware_path())
    return (image.symbols["_image_start"].address, image.symbols["_image_end"].address,
            image.struct("mailbox").sizeof())


def predict_carveout(
    machine: str = "q35",
    memory: int | str = "256M",
    cmdline: str = "",
    *,
    image: ElfImage | tuple[int, int] | None = None,
    e820: Sequence[E820Entry] | None = None,
) -> CarveoutPrediction:
    """Where the firmware booted with `cmdline` puts its carve-out, by driverkit.mem's memblock.

    image: the firmware ELF (or its [_image_start, _image_end)); default the built fw.elf.
    e820: the map the firmware is given; default `firmware_map(machine, memory)`.
    """
    entries = list(e820) if e820 is not None else firmware_map(machine, memory)
    mem_text = _param(cmdline, "mem")
    mem_limit = memparse(mem_text)[0] if mem_text else 0      # 0 or junk: ignored, as Linux
    limit = min(mem_limit, FOUR_GIB) if mem_limit else FOUR_GIB
    size, bad_size = _size_param(cmdline, "carveout", DEFAULT_SIZE)
    align, bad_align = _size_param(cmdline, "align", DEFAULT_ALIGN)

    def failed(reason: str, **kw: object) -> CarveoutPrediction:
        return CarveoutPrediction(None, size, align, limit, mem_limit,  # type: ignore[arg-type]
                                  failure=reason, **kw)

    if bad_size or bad_align:
        return failed(bad_size or bad_align or "")
    if align == 0 or align & (align - 1):
        return failed("align= must be a power of two")
    lo, hi, mailbox_size = _image_facts(image)
    if size < mailbox_size:
        return failed("carveout= is smaller than the mailbox header")

    mb = Memblock()
    for e in entries:
        if e.type == E820Type.RAM:
            mb.add(e.addr, e.size)
    for e in entries:                                      # sanitising: non-RAM wins
        if e.type != E820Type.RAM:
            mb.remove(e.addr, e.size)
    mb.remove(limit, (1 << 64) - limit)                    # x86 mem=: a maximum address
    mb.trim_memory()
    reserved = [(0, MiB), (lo, hi)]
    for s, e in reserved:
        mb.reserve(s, e - s)
    base = mb.find_top_down(size, align, end=limit)
    ram = list(mb.memory)
    if base is None:
        return failed("no usable RAM range below the limit fits the carve-out", ram=ram,
                      reserved=reserved)
    return CarveoutPrediction(base, size, align, limit, mem_limit, ram, reserved)


def carveout_plan(
    machine: str = "q35",
    memory: int | str = "256M",
    cmdline: str = "",
    *,
    base: int | None = None,
    size: int | None = None,
    image: ElfImage | tuple[int, int] | None = None,
    e820: Sequence[E820Entry] | None = None,
    name: str = NAME,
) -> MemPlan:
    """driverkit.mem's MemPlan of this machine with the carve-out as a boot-time reservation
    (a `carveouts` entry named "firmware carve-out", drawn in the SVG).

    base/size: the measured carve-out; default the prediction. The plan reads `cmdline` as a
    Linux kernel would (mem= applies, carveout=/align= are not kernel parameters).
    """
    if base is None or size is None:
        pred = predict_carveout(machine, memory, cmdline, image=image, e820=e820)
        if pred.base is None:
            raise MemModelError(f"the firmware places no carve-out with {cmdline!r}: "
                                f"{pred.failure}")
        base, size = pred.base, pred.size
    entries = list(e820) if e820 is not None else firmware_map(machine, memory)
    return plan(machine, memory, cmdline, e820=entries, strict=False, defaults=False,
                reserve=[(name, base, size)])
