"""The arm64 allocator model: QEMU virt's device tree and loader, the Image, memblock's
arm64 order, /reserved-memory, CMA and crashkernel, /proc/iomem, the ioremap gates.

Start with `plan_arm64()`; the device tree is read and edited with driverkit.mem.dt.
"""

from ..kernel.arm64 import Arm64Image, NotAnArm64Image
from .boot import Arm64Boot, PlacedRegion
from .plan import Arm64Plan, check_arm64_cmdline, plan_arm64
from .virt import VirtLayout, dtb_file_size, virt_layout

__all__ = ["Arm64Boot", "Arm64Image", "Arm64Plan", "NotAnArm64Image", "PlacedRegion",
           "VirtLayout", "check_arm64_cmdline", "dtb_file_size", "plan_arm64", "virt_layout"]
