"""QEMU 7.2's arm `virt` board as the arm64 kernel meets it: where QEMU's direct kernel boot
puts the Image, the initrd and the DTB (hw/arm/boot.c), and the /proc/iomem nodes the
board's devices get from their drivers.

Loader rules (QEMU 7.2 arm_setup_direct_kernel_boot / load_aarch64_image / arm_load_dtb):
* the Image goes to RAM base + text_offset, moved up by 2 MiB when text_offset is below the
  4 KiB boot stub QEMU writes at the bottom of RAM;
* the initrd to RAM base + min(RAM / 2, 128 MiB), page aligned;
* the DTB after the initrd, aligned to 2 MiB; its size is the generated tree's totalsize
  (1 MiB), or for `-dtb FILE` (file size + 10000) * 2 (load_device_tree's buffer, which
  QEMU keeps as the blob's totalsize).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ConfigError
from ..dt import DeviceTree, DtDevice
from ..platform import PlatformRes

MiB = 1 << 20
PAGE = 4096
BOOTLOADER_MAX_SIZE = 4096  # QEMU's boot stub at the bottom of RAM
INITRD_MAX_OFFSET = 128 * MiB
DTB_ALIGN = 2 * MiB  # QEMU prealigns an AArch64 DTB to 2 MiB


def dtb_file_size(file_bytes: int) -> int:
    """The totalsize QEMU gives a `-dtb FILE` blob (load_device_tree: (size + 10000) * 2)."""
    return (file_bytes + 10000) * 2


@dataclass(frozen=True)
class VirtLayout:
    """Where QEMU loaded things: [start, end) each."""

    kernel: tuple[int, int]  # _text .. _end
    initrd: tuple[int, int] | None
    dtb: tuple[int, int]


def virt_layout(ram: tuple[int, int], text_offset: int, image_size: int, initrd_size: int,
                dtb_size: int) -> VirtLayout:
    """QEMU's placement for RAM (base, size); ConfigError where QEMU would refuse."""
    base, size = ram
    off = text_offset + (2 * MiB if text_offset < BOOTLOADER_MAX_SIZE else 0)
    kernel = (base + off, base + off + image_size)
    initrd_start = base + min(size // 2, INITRD_MAX_OFFSET)
    initrd_start = -(-initrd_start // PAGE) * PAGE
    initrd = (initrd_start, initrd_start + initrd_size) if initrd_size else None
    if initrd and initrd[0] < kernel[1]:
        raise ConfigError(
            f"with {size >> 20} MiB of RAM QEMU puts the initrd at {initrd[0]:#x}, inside the "
            f"kernel image {kernel[0]:#x}-{kernel[1] - 1:#x}: give the machine more memory")
    dtb_start = -(-(initrd_start + initrd_size) // DTB_ALIGN) * DTB_ALIGN
    if dtb_start + dtb_size > base + size:
        raise ConfigError(f"QEMU: not enough space for the DTB ({dtb_size} bytes at "
                          f"{dtb_start:#x}) after the kernel and initrd in {size >> 20} MiB")
    return VirtLayout(kernel, initrd, (dtb_start, dtb_start + dtb_size))


#: compatible -> how the driver Debian's arm64 kernel builds in claims its registers:
#: "devm" = devm_ioremap_resource ("<dev_name> <node>" under the AMBA node), or the
#: region name passed to amba_request_regions. Devices whose drivers are modules the guest
#: does not load (virtio-mmio, fw-cfg, cfi-flash) get no node.
AMBA_CLAIMS = {"arm,pl011": "devm", "arm,pl061": "devm", "arm,pl031": "rtc-pl031"}
PCI_MEM_SPACES = (0x2, 0x3)  # ranges space codes: 32-bit and 64-bit memory (not I/O, 0x1)


def _amba(dev: DtDevice) -> list[PlatformRes]:
    claim = next((AMBA_CLAIMS[c] for c in dev.compatible if c in AMBA_CLAIMS), None)
    if claim is None or not dev.reg:
        return []
    start, size = dev.reg[0]
    end = start + size - 1
    unit = dev.name.split("@")[0]
    child = f"{start:x}.{unit} {dev.name}" if claim == "devm" else claim
    return [PlatformRes(start, end, dev.name, False, "mid"),
            PlatformRes(start, end, child, True, "final", "request")]


def _pcie(dev: DtDevice) -> list[PlatformRes]:
    if "pci-host-ecam-generic" not in dev.compatible:
        return []
    out = [PlatformRes(cpu, cpu + size - 1, dev.name, False, "mid")
           for phys_hi, cpu, size in dev.ranges if (phys_hi >> 24) & 3 in PCI_MEM_SPACES
           and size]
    for start, size in dev.reg:
        out.append(PlatformRes(start, start + size - 1, "PCI ECAM", True, "mid"))
    return out


def virt_platform(dt: DeviceTree) -> list[PlatformRes]:
    """The iomem nodes of the board's devices, from its device tree."""
    out: list[PlatformRes] = []
    for dev in dt.devices():
        out += _amba(dev) + _pcie(dev)
    return out
