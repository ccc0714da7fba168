"""fw_cfg (x86 ports 0x510-0x51b): QEMU's firmware configuration interface.

Select an item by writing its 16-bit key to 0x510, then read its bytes one at a time from
0x511 (each read advances), or transfer it by DMA: write the big-endian guest address of a
descriptor {BE32 control, BE32 length, BE64 address} to 0x514 (high half) and 0x518 (low
half, which runs the transfer); control reads 0 when done, or has bit 0 (error) set.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from construct import Int8ul, Int16ul, Int32ub

from driverkit.drivers import Driver, Needs
from driverkit.errors import DeviceRefused, DriverError, MemModelError
from driverkit.mem.e820 import E820Entry, parse_fw_cfg_e820
from driverkit.regs import RO, WO, Register, RegisterMap

if TYPE_CHECKING:
    from driverkit.machine.machine import Machine

PORT = 0x510
KEY_SIGNATURE, KEY_ID, KEY_FILE_DIR = 0x0000, 0x0001, 0x0019
FEATURE_TRADITIONAL, FEATURE_DMA = 0x1, 0x2
DMA_SIGNATURE = 0x51454D5520434647  # "QEMU CFG", read big-endian from the DMA register
CTL_ERROR, CTL_READ, CTL_SKIP, CTL_SELECT, CTL_WRITE = 0x1, 0x2, 0x4, 0x8, 0x10
FILE_ENTRY = struct.Struct(">IHH56s")


class FwCfgRegs(RegisterMap):
    """The x86 port block. Every data read consumes a byte; a selector write resets the cursor."""

    size = 0xC
    selector = Register(0x0, Int16ul, WO, side_effects=True, widths=(2,))
    data = Register(0x1, Int8ul, RO, side_effects=True, alias=True, widths=(1,))  # inside selector
    # Reading the DMA address register returns the signature "QEMU CFG" (big-endian). A write
    # to the high half only latches it; a write to the low half runs a DMA, so the check may
    # pattern-write dma_sig_hi but must leave dma_sig_lo alone unless destructive=True.
    dma_sig_hi = Register(0x4, Int32ub, RO, reset=DMA_SIGNATURE >> 32, widths=(4,))
    dma_sig_lo = Register(0x8, Int32ub, RO, reset=DMA_SIGNATURE & 0xFFFFFFFF, widths=(4,),
                          side_effects=True)
    dma_hi = Register(0x4, Int32ub, WO, side_effects=True, alias=True, widths=(4,))
    dma_lo = Register(0x8, Int32ub, WO, side_effects=True, alias=True, widths=(4,))


@dataclass(frozen=True)
class FwCfgFile:
    """One entry of the file directory (key 0x0019)."""

    name: str
    key: int
    size: int


def parse_file_dir(blob: bytes) -> list[FwCfgFile]:
    """The file directory: BE32 count, then 64-byte entries {BE32 size, BE16 key, u16, name}."""
    if len(blob) < 4:
        raise DriverError(f"fw_cfg file directory truncated: {len(blob)} bytes")
    (count,) = struct.unpack_from(">I", blob)
    need = 4 + count * FILE_ENTRY.size
    if len(blob) < need:
        raise DriverError(f"fw_cfg file directory says {count} files ({need} bytes), has "
                          f"{len(blob)} bytes")
    out = []
    for i in range(count):
        size, key, _, name = FILE_ENTRY.unpack_from(blob, 4 + i * FILE_ENTRY.size)
        out.append(FwCfgFile(name.split(b"\0", 1)[0].decode("ascii", "replace"), key, size))
    return out


def parse_e820(blob: bytes) -> list[E820Entry]:
    """QEMU's etc/e820 as driverkit.mem's entries (its decoder); DriverError if malformed."""
    try:
        return parse_fw_cfg_e820(blob)
    except MemModelError as exc:
        raise DriverError(str(exc)) from None


class FwCfg(Driver):
    """fw_cfg over x86 ports: signature, features, the file directory, files by PIO or DMA."""

    name = "fw_cfg"
    Regs = FwCfgRegs
    needs = Needs(arch="x86_64")
    regs: FwCfgRegs

    @classmethod
    async def probe(cls, machine: "Machine") -> "FwCfg":
        drv = cls(machine, FwCfgRegs(machine.ioport_map(PORT, FwCfgRegs.size, name="fw_cfg")))
        sig = drv.read_item(KEY_SIGNATURE, 4)
        if sig != b"QEMU":
            raise DeviceRefused(f"no fw_cfg at port {PORT:#x}: signature reads {sig!r}")
        return drv

    def info(self) -> dict:
        return {**super().info(), "features": self.features}

    # --- port I/O -------------------------------------------------------------------------

    def select(self, key: int) -> None:
        if not 0 <= key <= 0xFFFF:
            raise DeviceRefused(f"fw_cfg key {key:#x} is not 16-bit")
        self.regs.selector.write(key)

    def read_item(self, key: int, n: int) -> bytes:
        """The first `n` bytes of item `key`, byte by byte through the data port."""
        self.select(key)
        return bytes(self.regs.data.read() for _ in range(n))

    @property
    def signature(self) -> bytes:
        return self.read_item(KEY_SIGNATURE, 4)

    @property
    def features(self) -> int:
        return int.from_bytes(self.read_item(KEY_ID, 4), "little")

    @property
    def has_dma(self) -> bool:
        return bool(self.features & FEATURE_DMA) and self.dma_signature == DMA_SIGNATURE

    @property
    def dma_signature(self) -> int:
        return self.regs.dma_sig_hi.read() << 32 | self.regs.dma_sig_lo.read()

    def files(self, *, dma: bool = False) -> list[FwCfgFile]:
        """The file directory (key 0x0019)."""
        head = self._read(KEY_FILE_DIR, 4, dma)
        (count,) = struct.unpack(">I", head)
        return parse_file_dir(self._read(KEY_FILE_DIR, 4 + count * FILE_ENTRY.size, dma))

    def file(self, name: str) -> FwCfgFile:
        for f in self.files():
            if f.name == name:
                return f
        raise DriverError(f"fw_cfg has no file {name!r}")

    def read_file(self, name: str, *, dma: bool = False) -> bytes:
        f = self.file(name)
        return self._read(f.key, f.size, dma)

    def e820(self, *, dma: bool = False) -> list[E820Entry]:
        return parse_e820(self.read_file("etc/e820", dma=dma))

    def _read(self, key: int, n: int, dma: bool) -> bytes:
        return self.dma_read(key, n) if dma else self.read_item(key, n)

    # --- DMA ------------------------------------------------------------------------------

    def dma_read(self, key: int, n: int) -> bytes:
        """Select `key` and read its first `n` bytes by one DMA transfer into guest RAM."""
        if not self.has_dma:
            raise DeviceRefused("this fw_cfg has no DMA interface (feature bit 1 clear)")
        if not 0 < n <= 1 << 20:
            raise DeviceRefused(f"fw_cfg DMA length {n} must be 1..1 MiB")
        with self.machine.dma.alloc(16 + n, 16, name="fw_cfg DMA") as buf:
            control = (key << 16) | CTL_SELECT | CTL_READ
            buf.write(struct.pack(">IIQ", control, n, buf.phys + 16))
            self.regs.dma_hi.write(buf.phys >> 32)
            self.regs.dma_lo.write(buf.phys & 0xFFFFFFFF)  # runs the transfer synchronously
            (done,) = struct.unpack(">I", buf.read(0, 4))
            if done:  # 0 when done; bit 0 set on error
                raise DriverError(f"fw_cfg DMA of key {key:#x} ({n} bytes) failed: control "
                                  f"reads {done:#x}")
            return buf.read(16, n)
