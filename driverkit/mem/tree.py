"""Build the /proc/iomem resource tree a guest kernel would show, from the boot model.

Order of insertion follows the kernel (see platform.py for the phases): ROMs; kernel image
and crashkernel nodes; the busy e820 entries (`e820__reserve_resources`: RAM, ACPI, NVS,
unusable, everything below 1 MiB); APICs, PCI root windows, HPET; then the non-busy ones
(Reserved, PRAM, PMEM, soft reserved) and the "RAM buffer" tails
(`e820__reserve_resources_late`); then pnp and PCI MMCONFIG.
"""

from __future__ import annotations

import re

from .boot import BootState
from .e820 import E820Type, type_iomem_name
from .platform import PlatformRes
from .resource import (
    IORESOURCE_BUSY,
    IORESOURCE_MEM,
    IORESOURCE_SYSTEM_RAM,
    Resource,
    insert_resource,
    insert_resource_expand_to_fit,
    new_root,
    request_region,
    reserve_region_with_split,
)

_LATE_TYPES = (E820Type.RESERVED, E820Type.SOFT_RESERVED, E820Type.PRAM, E820Type.PMEM)
MAX_RESOURCE = (1 << 40) - 1  # iomem_resource.end = 2^phys_bits - 1 (qemu64: 40 bits)


def _ram_alignment(pos: int) -> int:
    mb = pos >> 20
    if not mb:
        return 64 * 1024
    if mb < 16:
        return 1 << 20
    return 64 << 20


def _add_platform(root: Resource, items: list[PlatformRes], phase: str) -> None:
    for p in items:
        if p.phase != phase:
            continue
        if p.method == "request":
            try:
                request_region(root, p.start, p.end - p.start + 1, p.name)
            except Exception:  # a conflicting setup simply lacks the node, as in the kernel
                pass
        else:
            insert_resource(root, Resource(p.start, p.end, p.name, p.flags))


def build_iomem(
    state: BootState, platform: list[PlatformRes], *, kernel_nodes: bool = True
) -> tuple[Resource, list[str]]:
    """The resource tree and the `e820: reserve RAM buffer` log lines."""
    root = new_root()
    log: list[str] = []
    _add_platform(root, platform, "pre")
    if kernel_nodes:  # the image resources, from the kernel build's own layout
        for name, (a, b) in state.kernel.layout.resources.items():
            insert_resource(
                root,
                Resource(
                    state.kernel_at + a,
                    state.kernel_at + b,
                    name,
                    IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY,
                ),
            )
    for s, e, name in state.crash_resources:
        insert_resource(root, Resource(s, e, name, IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY))
    late: list[Resource] = []
    for ent in state.e820:
        flags = IORESOURCE_MEM
        if ent.type in (E820Type.RAM, E820Type.RESERVED_KERN):
            flags = IORESOURCE_SYSTEM_RAM
        res = Resource(ent.addr, ent.last, type_iomem_name(ent.type), flags)
        if ent.addr < (1 << 20) or ent.type not in _LATE_TYPES:
            res.flags |= IORESOURCE_BUSY
            insert_resource(root, res)
        else:
            late.append(res)
    _add_platform(root, platform, "mid")
    for res in late:
        insert_resource_expand_to_fit(root, res)
    for ent in state.e820:
        if ent.type != E820Type.RAM:
            continue
        start = ent.end
        end = -(-start // _ram_alignment(start)) * _ram_alignment(start) - 1
        end = min(end, MAX_RESOURCE)
        if start >= end:
            continue
        log.append(f"e820: reserve RAM buffer [mem {start:#010x}-{end:#010x}]")
        reserve_region_with_split(root, start, end, "RAM buffer")
    _add_platform(root, platform, "final")
    return root, log


_LINE = re.compile(r"^(?P<ind> *)(?P<s>[0-9a-fA-F]+)-(?P<e>[0-9a-fA-F]+) : (?P<n>.*)$")
_PCI_DEV = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")


def parse_iomem(text: str) -> Resource:
    """Read /proc/iomem text (as root) back into a tree."""
    root = new_root()
    stack: list[tuple[int, Resource]] = [(-1, root)]
    for line in text.splitlines():
        m = _LINE.match(line.rstrip("\r"))
        if not m:
            continue
        depth = len(m.group("ind")) // 2
        res = Resource(int(m.group("s"), 16), int(m.group("e"), 16), m.group("n"))
        while stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1]
        res.parent = parent
        parent.children.append(res)
        stack.append((depth, res))
    return root


def comparable_lines(text: str, *, kernel: bool = False, devices: bool = False) -> list[str]:
    """/proc/iomem lines minus what the model does not predict (PCI BARs, KASLR'd kernel)."""
    out = []
    skip_depth: int | None = None
    for line in text.splitlines():
        m = _LINE.match(line.rstrip("\r"))
        if not m:
            continue
        depth = len(m.group("ind")) // 2
        if skip_depth is not None and depth > skip_depth:
            continue
        skip_depth = None
        name = m.group("n")
        if (not devices and _PCI_DEV.match(name)) or (not kernel and name.startswith("Kernel ")):
            skip_depth = depth
            continue
        out.append(line.rstrip("\r"))
    return out


def diff_iomem(
    predicted: str, real: str, *, kernel: bool = False, devices: bool = False
) -> list[str]:
    """Unified diff of predicted vs real /proc/iomem, over the lines the model covers."""
    import difflib

    a = comparable_lines(predicted, kernel=kernel, devices=devices)
    b = comparable_lines(real, kernel=kernel, devices=devices)
    return [ln for ln in difflib.unified_diff(a, b, "predicted", "real", lineterm="", n=1)]
