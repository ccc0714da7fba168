"""Resource assignment for the bare firmware: bus numbers, bridge windows and BAR addresses.

Sizing works bottom-up (a bridge needs a window that holds everything behind it, rounded to the
window granularity), placement top-down from the platform's windows. Items of one kind are
placed largest alignment first, so power-of-two BARs pack without gaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import PciError
from .device import Bar, PciDevice

if TYPE_CHECKING:
    from .platform import PciPlatform, Window

KINDS = ("io", "mem", "pref")
GRANULE = {"io": 0x1000, "mem": 0x10_0000, "pref": 0x10_0000}
IO_BASE, IO_LIMIT, IO_BASE_UPPER, IO_LIMIT_UPPER = 0x1C, 0x1D, 0x30, 0x32
MEM_BASE, MEM_LIMIT = 0x20, 0x22
PREF_BASE, PREF_LIMIT, PREF_BASE_UPPER, PREF_LIMIT_UPPER = 0x24, 0x26, 0x28, 0x2C


def _align_up(value: int, align: int) -> int:
    return (value + align - 1) & ~(align - 1)


@dataclass
class _Item:
    """Something to place in a window: a BAR, or the window of a bridge one level down."""

    size: int
    align: int
    device: PciDevice
    bar: Bar | None = None  # None: the bridge window of `device` for this kind


def _items(devices: list[PciDevice], kind: str) -> list[_Item]:
    items = []
    for dev in devices:
        for bar in dev.bars.values():
            if bar.window == kind:
                items.append(_Item(bar.size, bar.size, dev, bar))
        if dev.is_bridge:
            size, align = _need(dev.children, kind)
            if size:
                g = GRANULE[kind]
                items.append(_Item(_align_up(size, g), max(align, g), dev))
    items.sort(key=lambda it: (-it.align, -it.size))
    return items


def _need(devices: list[PciDevice], kind: str) -> tuple[int, int]:
    """(size, alignment) of the span that holds every `kind` item of these functions."""
    end, align = 0, 1
    for it in _items(devices, kind):
        end = _align_up(end, it.align) + it.size
        align = max(align, it.align)
    return end, align


def _place(devices: list[PciDevice], kind: str, start: int, end: int, where: str) -> None:
    size, align = _need(devices, kind)
    base = _align_up(start, align)
    if base + size > end:
        raise PciError(f"{where}: {kind} resources need {size:#x} bytes aligned to {align:#x}, "
                       f"window is [{start:#x}, {end:#x})")
    pos = base
    for it in _items(devices, kind):
        pos = _align_up(pos, it.align)
        if it.bar is not None:
            it.device.set_bar_address(it.bar.index, pos)
        else:
            _program_window(it.device, kind, pos, it.size)
            _place(it.device.children, kind, pos, pos + it.size,
                   f"bridge {it.device.address}")
        pos += it.size


def _program_window(br: PciDevice, kind: str, base: int, size: int) -> None:
    limit = base + size - 1
    if kind == "io":
        br.write_config(IO_BASE, 1, (base >> 8) & 0xF0)
        br.write_config(IO_LIMIT, 1, (limit >> 8) & 0xF0)
        if br.read_config(IO_BASE, 1) & 0xF == 1:  # 32-bit I/O addressing
            br.write_config(IO_BASE_UPPER, 2, base >> 16)
            br.write_config(IO_LIMIT_UPPER, 2, limit >> 16)
        got = (br.read_config(IO_BASE, 1) & 0xF0) << 8
    elif kind == "mem":
        br.write_config(MEM_BASE, 2, (base >> 16) & 0xFFF0)
        br.write_config(MEM_LIMIT, 2, (limit >> 16) & 0xFFF0)
        got = (br.read_config(MEM_BASE, 2) & 0xFFF0) << 16
    else:
        if br.read_config(PREF_BASE, 2) & 0xF != 1 and limit >> 32:
            raise PciError(f"bridge {br.address}: prefetchable window is 32-bit only; "
                           f"cannot place {base:#x}")
        br.write_config(PREF_BASE, 2, (base >> 16) & 0xFFF0)
        br.write_config(PREF_LIMIT, 2, (limit >> 16) & 0xFFF0)
        br.write_config(PREF_BASE_UPPER, 4, base >> 32)
        br.write_config(PREF_LIMIT_UPPER, 4, limit >> 32)
        got = ((br.read_config(PREF_BASE, 2) & 0xFFF0) << 16) | \
            (br.read_config(PREF_BASE_UPPER, 4) << 32)
    if got != base & ~(GRANULE[kind] - 1) & ((1 << 64) - 1):
        raise PciError(f"bridge {br.address}: {kind} window base wrote {base:#x}, "
                       f"reads back {got:#x}")


def close_bridge_windows(br: PciDevice) -> None:
    """Disable all three windows (base above limit) before assignment."""
    br.write_config(IO_BASE, 1, 0xF0)
    br.write_config(IO_LIMIT, 1, 0x00)
    br.write_config(MEM_BASE, 2, 0xFFF0)
    br.write_config(MEM_LIMIT, 2, 0x0000)
    br.write_config(PREF_BASE, 2, 0xFFF0)
    br.write_config(PREF_LIMIT, 2, 0x0000)
    br.write_config(PREF_BASE_UPPER, 4, 0)
    br.write_config(PREF_LIMIT_UPPER, 4, 0)


def assign_resources(roots: list[PciDevice], plat: "PciPlatform") -> None:
    """Place every BAR and bridge window of the tree under the root bus."""
    windows: dict[str, Window] = {"io": plat.io, "mem": plat.mem32, "pref": plat.mem64}
    for kind in KINDS:
        w = windows[kind]
        _place(roots, kind, w.start, w.end, f"{plat.machine} {kind} window")
