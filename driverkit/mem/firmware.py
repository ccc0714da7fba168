"""The firmware memory map of a QEMU 7.2 x86 guest: QEMU's `etc/e820`, then SeaBIOS's edits.

QEMU (hw/i386/pc.c, pc_piix.c, pc_q35.c) puts RAM below 4 GiB up to a split point and the
rest at 4 GiB, plus the AMD HyperTransport hole (TCG's default qemu64 vCPU is AMD) and,
under KVM, the EPT identity-map page. SeaBIOS 1.16 (src/fw/paravirt.c, malloc.c, post.c,
fw/pciinit.c) then reserves its ROM alias, the EBDA, the BIOS segment, its high tables at
the top of low RAM and, on q35, MMCONFIG and the ICH9 RCBA. The high-table size is measured,
not derived: pass a real map (`e820=`) or `high_tables=` when a setup differs.
"""

from __future__ import annotations

from ..errors import MemModelError
from .e820 import E820Entry, E820Type

GiB = 1 << 30
MiB = 1 << 20
FOUR_G = 1 << 32

#: SeaBIOS high-table reservation (ACPI, SMBIOS ...) at the top of RAM below 4 GiB.
#: Measured on QEMU 7.2 + SeaBIOS 1.16.2 (TCG, default devices, 1 vCPU) at 128M, 256M, 512M,
#: 1G, 2G, 2816M, 3G, 3584M, 4G and 5G: pc always 0x20000 (128 KiB), q35 always 0x21000
#: (132 KiB). It follows the size of the ACPI tables QEMU generates (the machine type and its
#: devices), not the RAM size.
HIGH_TABLES = {"pc": 0x20000, "q35": 0x21000}
#: Under -nodefaults (how driverkit launches machines) q35 also reserves 0x20000 [verified,
#: also with -smp 4/8 and extra devices such as edu or pci-testdev].
HIGH_TABLES_NODEFAULTS = {"pc": 0x20000, "q35": 0x20000}


def high_table_size(machine: str, defaults: bool = True) -> int:
    """SeaBIOS's high-table reservation for a machine with or without QEMU's default devices."""
    m = normalize_machine(machine)
    return (HIGH_TABLES if defaults else HIGH_TABLES_NODEFAULTS)[m]


#: Where QEMU's ACPI tables sit inside that block and how far they reach, measured from the
#: kernel's "ACPI: Reserving ... table memory" lines: they start 128 KiB below the top of low
#: RAM on both machines (FACS first) and end 0x1ad8 (pc) / 0x22e1 (q35) bytes later. The kernel
#: keeps them mapped write-back, so PAT refuses uncached maps of those pages ([verified] with
#: /dev/mem: pc pages 0x0ffe0000-0x0ffe1fff, q35 0x0ffe0000-0x0ffe2fff give EAGAIN, the rest of
#: the block maps fine).
ACPI_TABLES = {"pc": (0x20000, 0x1AD8), "q35": (0x20000, 0x22E1)}

AMD_HT_START = 0xFD_0000_0000
AMD_HT_SIZE = 0x3_0000_0000  # up to 0xffffffffff
KVM_IDENTITY_MAP = (0xFEFFC000, 0x4000)
Q35_MMCONFIG = (0xB0000000, 256 * MiB)
Q35_RCBA = (0xFED1C000, 0x4000)
BIOS_ROM_ALIAS = (0xFFFC0000, 256 * 1024)
EBDA_START = 0x9FC00


def normalize_machine(machine: str) -> str:
    """Map QEMU machine names (pc, pc-i440fx-7.2, q35, pc-q35-7.2) to "pc" or "q35"."""
    m = machine.lower()
    if m in ("q35",) or m.startswith("pc-q35"):
        return "q35"
    if m in ("pc", "i440fx") or m.startswith("pc-i440fx"):
        return "pc"
    raise MemModelError(f"machine {machine!r}: the x86 memory model knows pc (i440FX) and q35")


def ram_split(machine: str, memory: int, max_ram_below_4g: int | None = None) -> tuple[int, int]:
    """(below_4g, above_4g) RAM sizes as QEMU 7.2 splits them."""
    m = normalize_machine(machine)
    if m == "pc":
        lowmem = 0xE0000000 if max_ram_below_4g is None else max_ram_below_4g
        # pc_piix.c: gigabyte_align, so anything over the cap starts at 3 GiB
        if memory >= lowmem:
            below = 0xC0000000 if max_ram_below_4g is None else lowmem
        else:
            below = memory
    else:
        lowmem = 0xB0000000 if max_ram_below_4g is None else max_ram_below_4g
        if memory >= lowmem:
            below = 0x80000000 if max_ram_below_4g is None else lowmem
        else:
            below = memory
    return below, memory - below


def qemu_fw_cfg_e820(
    machine: str,
    memory: int,
    *,
    accel: str = "tcg",
    amd_cpu: bool = True,
    phys_bits: int = 40,
    max_ram_below_4g: int | None = None,
) -> list[E820Entry]:
    """The `etc/e820` fw_cfg file QEMU 7.2 hands to firmware, as entries."""
    if memory <= 0 or memory % 4096:
        raise MemModelError(f"memory {memory:#x}: must be a positive multiple of 4 KiB")
    below, above = ram_split(machine, memory, max_ram_below_4g)
    out = [E820Entry(0, below, E820Type.RAM)]
    if above:
        out.append(E820Entry(FOUR_G, above, E820Type.RAM))
    if accel == "kvm":
        out.append(E820Entry(*KVM_IDENTITY_MAP, E820Type.RESERVED))
    if amd_cpu and phys_bits >= 40:
        out.append(E820Entry(AMD_HT_START, AMD_HT_SIZE, E820Type.RESERVED))
    return out


# --- SeaBIOS's own table: e820_add overrides what it overlaps, neighbours of a type merge ----


def _sb_remove(table: list[E820Entry], start: int, size: int) -> list[E820Entry]:
    end = start + size
    out = []
    for e in table:
        if e.end <= start or e.addr >= end:
            out.append(e)
            continue
        if e.addr < start:
            out.append(E820Entry(e.addr, start - e.addr, e.type))
        if e.end > end:
            out.append(E820Entry(end, e.end - end, e.type))
    return out


def _sb_add(table: list[E820Entry], start: int, size: int, typ: int) -> list[E820Entry]:
    out = _sb_remove(table, start, size)
    out.append(E820Entry(start, size, typ))
    out.sort(key=lambda e: e.addr)
    merged: list[E820Entry] = []
    for e in out:
        if merged and merged[-1].type == e.type and merged[-1].end == e.addr:
            merged[-1] = E820Entry(merged[-1].addr, merged[-1].size + e.size, e.type)
        else:
            merged.append(e)
    return merged


def apply_seabios(
    fw_cfg: list[E820Entry], machine: str, *, high_tables: int | None = None
) -> list[E820Entry]:
    """Apply SeaBIOS 1.16's edits to a raw `etc/e820` table: the map the kernel receives.

    high_tables: the size of SeaBIOS's high-table block (default: the measured size for the
    machine with QEMU's default devices, see high_table_size()).
    """
    m = normalize_machine(machine)
    hi = HIGH_TABLES[m] if high_tables is None else high_tables
    table: list[E820Entry] = []
    ram_top = 0
    for e in fw_cfg:
        if e.type in (E820Type.RAM, E820Type.RESERVED):
            table = _sb_add(table, e.addr, e.size, e.type)
            if e.type == E820Type.RAM and e.addr < FOUR_G:
                ram_top = max(ram_top, min(e.end, FOUR_G))
    table = _sb_add(table, *BIOS_ROM_ALIAS, E820Type.RESERVED)  # qemu_preinit
    table = _sb_remove(table, 0xA0000, 0xF0000 - 0xA0000)  # malloc_preinit
    table = _sb_add(table, 0xF0000, 0x10000, E820Type.RESERVED)
    if hi:
        if hi % 4096 or hi >= ram_top:
            raise MemModelError(f"high_tables {hi:#x}: must be page-aligned and below {ram_top:#x}")
        table = _sb_add(table, ram_top - hi, hi, E820Type.RESERVED)
    table = _sb_add(table, EBDA_START, 0xA0000 - EBDA_START, E820Type.RESERVED)  # post.c
    if m == "q35":
        table = _sb_add(table, *Q35_MMCONFIG, E820Type.RESERVED)
        table = _sb_add(table, *Q35_RCBA, E820Type.RESERVED)
    return table


def firmware_e820(
    machine: str,
    memory: int,
    *,
    accel: str = "tcg",
    high_tables: int | None = None,
    defaults: bool = True,
) -> list[E820Entry]:
    """The BIOS-e820 map a QEMU 7.2 + SeaBIOS 1.16 guest kernel prints.

    defaults: QEMU's default devices are present (False for -nodefaults, as driverkit runs it).
    """
    hi = high_table_size(machine, defaults) if high_tables is None else high_tables
    return apply_seabios(qemu_fw_cfg_e820(machine, memory, accel=accel), machine, high_tables=hi)


def qemu_initrd_range(
    machine: str, memory: int, size: int, *, defaults: bool = True
) -> tuple[int, int]:
    """[start, end) where an `-initrd` of `size` bytes sits when the kernel starts.

    Measured rule (RAMDISK: lines, pc/q35, 256M/5G, with and without -nodefaults): it is
    page-aligned and ends at or below the start of SeaBIOS's high-table block rounded down
    to 64 KiB (pc 0x0ffe0000; q35 with default devices 0x0ffd0000).
    """
    m = normalize_machine(machine)
    below, _ = ram_split(m, memory)
    top = (below - high_table_size(m, defaults)) & ~0xFFFF
    start = (top - 1 - size) & ~0xFFF
    if size <= 0 or start < 0x100000:
        raise MemModelError(f"initrd of {size:#x} bytes does not fit below {top:#x}")
    return start, start + size
