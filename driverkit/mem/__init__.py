"""driverkit.mem — the allocator model: what a Linux x86 guest does with its physical memory.

Pure computation, no QEMU: the firmware e820 map (QEMU 7.2 + SeaBIOS 1.16, or a real one),
`mem=`/`memmap=`/`crashkernel=`/`cma=` as the kernel parses them, memblock and zones,
boot-time carve-outs, /proc/iomem, runtime allocator limits and the ioremap/memremap/
request_mem_region//dev/mem gates. Start with `plan()`; `pool.GenPool` manages carve-outs.
"""

from .boot import Carveout
from .cmdline import KernelCmdline, parse_cmdline
from .e820 import E820Entry, E820Table, E820Type, parse_e820_log, parse_fw_cfg_e820
from .firmware import apply_seabios, firmware_e820, qemu_fw_cfg_e820
from .kconfig import KernelConfig
from .memparse import memparse
from .plan import MemPlan, parse_probe, parse_probes, plan
from .pool import GenPool
from .window import mem_window

__all__ = [
    "Carveout",
    "E820Entry",
    "E820Table",
    "E820Type",
    "GenPool",
    "KernelCmdline",
    "KernelConfig",
    "MemPlan",
    "apply_seabios",
    "firmware_e820",
    "mem_window",
    "memparse",
    "parse_cmdline",
    "parse_e820_log",
    "parse_fw_cfg_e820",
    "parse_probe",
    "parse_probes",
    "plan",
    "qemu_fw_cfg_e820",
]
