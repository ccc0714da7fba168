"""`plan_arm64()`: the allocator model's prediction for an arm64 guest on QEMU virt.

Device tree (QEMU's generated one, or an edited one booted with -dtb) + the Image (header,
PE sections, BTF sizes) + QEMU's loader placement -> the boot model (memblock, zones,
carve-outs) -> /proc/iomem (System RAM per memblock region, NOMAP regions as top-level
"reserved", Kernel code/data, Crash kernel, then every memblock reservation as a
"reserved" child: reserve_memblock_reserved_regions) -> limits -> probes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from ...errors import CmdlineError, ConfigError
from ...results import JsonResult
from ...units import format_size, parse_size
from ..boot import Carveout
from ..cmdline import KernelCmdline, parse_cmdline
from ..dt import DeviceTree
from ..gates import Probe, _region_intersects_ram
from ..kconfig import KernelConfig
from ..kernel.arm64 import Arm64Image
from ..limits import limits as compute_limits
from ..plan import parse_probes
from ..resource import (
    IORESOURCE_BUSY,
    IORESOURCE_MEM,
    IORESOURCE_SYSTEM_RAM,
    Resource,
    insert_resource,
    new_root,
    release_region,
    render,
    request_region,
    reserve_region_with_split,
)
from ..tree import _add_platform
from .boot import PAGE, Arm64Boot, boot
from .virt import dtb_file_size, virt_layout, virt_platform

#: dma_alloc_coherent sizes dkprobe tries (guest/linux/dkprobe/dkprobe.c): the largest is
#: the most it can report
DKPROBE_DMA_SIZES = (4 << 10, 64 << 10, 1 << 20, 2 << 20, 4 << 20, (4 << 20) + 4096,
                     8 << 20, 16 << 20, 32 << 20)


def check_arm64_cmdline(cmdline: str) -> None:
    """Refuse what an arm64 kernel does not have: memmap= (x86, mips and xtensa only)."""
    for word in cmdline.split():
        if word.startswith("memmap="):
            raise CmdlineError(
                f"{word!r}: arm64 has no memmap= (only x86, mips and xtensa parse it; an arm64 "
                f"kernel would pass it to init and carve out nothing). Carve memory out with a "
                f"/reserved-memory node (DeviceTree.with_reserved_memory) or mem=SIZE")


@dataclass(frozen=True)
class KernelSummary:
    """Which build the plan modelled (the part of KernelDescription memcheck prints)."""

    release: str
    source: str

    def summary(self) -> str:
        return f"Linux {self.release} ({self.source})"


@dataclass
class Arm64Plan(JsonResult):
    """The prediction: boot state, iomem tree, limits, probes; views like MemPlan's."""

    memory: int
    cmdline: KernelCmdline
    kconfig: KernelConfig
    image: Arm64Image
    dt: DeviceTree
    dtb_source: str
    state: Arm64Boot
    iomem: Resource
    limits: dict
    probes: list[Probe]
    machine: str = "virt"
    notes: list[str] = field(default_factory=list)

    @property
    def memory_total_kb(self) -> int:
        return self.state.memory_total_kb

    @property
    def kaslr(self) -> bool:
        """The kernel randomises its virtual placement (CONFIG_RANDOMIZE_BASE, no nokaslr):
        the page tables of its mapping can take a page or two more than the model counts."""
        return self.kconfig.enabled("RANDOMIZE_BASE") and not self.cmdline.nokaslr

    @property
    def kernel(self) -> "KernelSummary":
        return KernelSummary(self.image.release, self.image.path)

    @property
    def warnings(self) -> list[str]:
        return self.state.warnings

    def iomem_text(self) -> str:
        return render(self.iomem)

    def estimated_ranges(self) -> list[tuple[int, int]]:
        """[start, end) of allocations the model sizes only approximately."""
        return list(self.state.estimated)

    def dmesg_lines(self) -> list[str]:
        st = self.state
        out = list(st.log)
        out.append("Zone ranges:")
        for z in st.zones:
            out.append(f"  {z.name:<8} empty" if z.empty
                       else f"  {z.name:<8} [mem {z.start:#018x}-{z.end - 1:#018x}]")
        out.append(f"Memory: ?K/{st.memory_total_kb}K available")
        return out

    def to_dict(self) -> dict:
        st = self.state
        return {
            "arch": "aarch64",
            "iomem": [c.to_dict() for c in self.iomem.children],
            "memory_total_kb": self.memory_total_kb,
            "carveouts": [c.to_dict() for c in st.carveouts],
            "limits": dict(self.limits),
            "probes": [p.to_dict() for p in self.probes],
            "reserved_memory": [{**p.region.to_dict(), "placed_at": p.start,
                                 "outcome": p.outcome} for p in st.regions],
            "layout": {"kernel": list(st.layout.kernel), "initrd": list(st.layout.initrd)
                       if st.layout.initrd else None, "dtb": list(st.layout.dtb)},
            "zones": [{"name": z.name, "start": z.start, "end": z.end,
                       "present_pages": z.present_pages} for z in st.zones],
            "kernel": {"release": self.image.release, "source": self.image.path},
            "log": list(st.log),
            "warnings": list(st.warnings),
        }

    def to_text(self) -> str:
        st = self.state
        k0, k1 = st.layout.kernel
        L = [f"memplan: aarch64 virt {format_size(self.memory)}, cmdline "
             f"{self.cmdline.text!r} (Linux {self.image.release}; device tree "
             f"{self.dtb_source})", "",
             "QEMU's loader (hw/arm/boot.c):",
             f"  Image  {k0:#012x}-{k1 - 1:#012x}  (text_offset {self.image.text_offset:#x}, "
             f"image_size {self.image.image_size:#x})"]
        if st.layout.initrd:
            L.append(f"  initrd {st.layout.initrd[0]:#012x}-{st.layout.initrd[1] - 1:#012x}")
        L.append(f"  DTB    {st.layout.dtb[0]:#012x}-{st.layout.dtb[1] - 1:#012x}")
        if st.regions:
            L += ["", "/reserved-memory:"]
            for p in st.regions:
                L.append(f"  {p.region.name:<24} {p.start:#012x}+{format_size(p.size):<6} "
                         f"{p.outcome}")
        L += ["", "Zones:"]
        for z in st.zones:
            span = "empty" if z.empty else f"{z.start:#x}-{z.end - 1:#x}"
            L.append(f"  {z.name:<7} {span:<28} present {z.present_pages} pages")
        L.append(f"  Memory: .../{st.memory_total_kb}K available")
        L += ["", "Carve-outs:"] + ([f"  {c.name:<32} {c.start:#012x}-{c.start + c.size - 1:#012x}"
                                     f" {format_size(c.size):>6}" for c in st.carveouts]
                                    or ["  (none)"])
        L += ["", "Kernel log lines the model predicts:"] + [f"  {ln}" for ln in st.log]
        L += ["", "Limits:"] + [f"  {k:<24} {v}" for k, v in self.limits.items()
                                 if not isinstance(v, list)]
        L += ["", "/proc/iomem (predicted):"] + ["  " + ln for ln in
                                                  self.iomem_text().splitlines()]
        if self.probes:
            L += ["", "Probes:"]
            for p in self.probes:
                L.append(f"  {p.start:#x}+{p.size:#x}: ram {p.ram}, ioremap {p.ioremap}, "
                         f"memremap {p.memremap}, request_mem_region {p.request_mem_region}, "
                         f"/dev/mem mmap {p.devmem_mmap}")
                L += [f"      {part}" for part in p.reason.split("; ")]
        if self.warnings or self.notes:
            L += ["", "Warnings:"] + [f"  {w}" for w in self.warnings + self.notes]
        return "\n".join(L) + "\n"


def build_iomem_arm64(st: Arm64Boot, image: Arm64Image, dt: DeviceTree) -> Resource:
    """request_standard_resources() + reserve_memblock_reserved_regions() + the devices."""
    root = new_root()
    platform = virt_platform(dt)
    assert image.init_section is not None
    init_begin, init_end = image.init_section
    code = (st.kernel_text + image.stext, st.kernel_text + init_begin - 1)
    data = (st.kernel_text + init_end, st.kernel_text + image.end - 1)
    mems = []
    for s, e, nomap in st.memblock.regions():
        flags = IORESOURCE_MEM if nomap else IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY
        res = Resource(s, e - 1, "reserved" if nomap else "System RAM", flags)
        insert_resource(root, res)
        mems.append(res)
        for a, b, name in [(*code, "Kernel code"), (*data, "Kernel data"),
                           *st.crash_resources]:
            if s <= a and b <= e - 1:
                insert_resource(res, Resource(a, b, name, IORESOURCE_SYSTEM_RAM |
                                              IORESOURCE_BUSY))
    _add_platform(root, platform, "mid")
    for res in mems:  # arch_initcall: every memblock reservation, page-rounded
        if not res.system_ram:
            continue
        for s, e in st.memblock.reserved:
            a = max(s // PAGE * PAGE, res.start)
            b = min(-(-e // PAGE) * PAGE - 1, res.end)
            if a <= b:
                reserve_region_with_split(res, a, b, "reserved")
    _add_platform(root, platform, "final")
    return root


def probe_arm64(root: Resource, st: Arm64Boot, start: int, size: int, *,
                strict_devmem: bool = True, io_strict_devmem: bool = True) -> Probe:
    """The gates on arm64 (6.1): ioremap refuses memory in the linear map (pfn_is_map_memory
    of the first page, arch/arm64/mm/ioremap.c); memremap(WB) refuses a range that is part
    System RAM, returns the linear map for RAM, else ioremap_cache; request_mem_region as
    kernel/resource.c; /dev/mem (arch/arm64/mm/mmap.c devmem_is_allowed) refuses System RAM
    and, under IO_STRICT_DEVMEM, busy regions."""
    last = start + size - 1
    first_page = start // PAGE * PAGE
    reasons = []
    if size <= 0 or last >= 1 << 48:
        ioremap, why = "fail", "size 0 or past the 48-bit physical address space"
    elif st.memblock.is_map_memory(first_page):
        ioremap, why = "fail", (f"{first_page:#x} is memory in the kernel's linear map "
                                f"(pfn_is_map_memory): WARN_ON and NULL")
    else:
        ioremap, why = "ok", "not in the linear map (no-map, above mem= or device space)"
    reasons.append(f"ioremap {ioremap}: {why}")
    ri = _region_intersects_ram(root, start, last)
    if ri == "mixed":
        memremap, mwhy = "fail", "part System RAM, part not: memremap refuses mixed ranges"
    elif ri == "intersects":
        memremap, mwhy = "ok", "System RAM: the linear map (try_ram_remap)"
    else:
        memremap, mwhy = ioremap, f"via ioremap_cache: {why}"
    reasons.append(f"memremap(WB) {memremap}: {mwhy}")
    try:
        res = request_region(root, start, size, "probe")
        release_region(res)
        rmr, rwhy = "ok", "no busy resource in the way"
    except Exception as exc:  # ResourceBusy
        rmr, rwhy = "fail", str(exc).split(": ", 1)[-1]
    reasons.append(f"request_mem_region {rmr}: {rwhy}")
    if ri != "disjoint" and strict_devmem:
        dm, dwhy = "EPERM", "System RAM (page_is_ram)"
    elif rmr == "fail" and io_strict_devmem:
        dm, dwhy = "EPERM", "a busy region (IO_STRICT_DEVMEM)"
    else:
        dm, dwhy = "ok", "not RAM, not busy"
    reasons.append(f"/dev/mem mmap {dm}: {dwhy}")
    ram = {"intersects": "all", "disjoint": "none"}.get(ri, "mixed")
    return Probe(start, size, ioremap, memremap, rmr, dm, dm, "; ".join(reasons), ram)


def plan_arm64(
    memory: int | str = "256M",
    cmdline: str = "",
    probes: Iterable = (),
    *,
    kernel: "str | os.PathLike[str] | Arm64Image",
    kernel_config: "str | os.PathLike[str] | Mapping[str, object] | KernelConfig | None",
    dtb: "bytes | str | os.PathLike[str] | DeviceTree",
    dtb_is_file: bool = False,
    initrd_size: int | str = 0,
    strict: bool = True,
) -> Arm64Plan:
    """Predict what an arm64 guest on QEMU virt does with its memory.

    dtb: the device tree the guest boots with: QEMU's generated one (driverkit.machine.dtb.
    virt_dtb) or, with `dtb_is_file=True`, the blob given to QEMU as `-dtb` (its size sets
    QEMU's DTB reservation). kernel: the Image (or an Arm64Image). initrd_size: the -initrd
    file's size. memmap= is refused (arm64 has none); bad /reserved-memory nodes raise
    ReservedMemoryError unless strict=False (then they are warnings).
    """
    check_arm64_cmdline(cmdline)
    mem = parse_size(memory, "memory")
    img = kernel if isinstance(kernel, Arm64Image) else Arm64Image.read(kernel)
    kc = KernelConfig.load(kernel_config)
    cl = parse_cmdline(cmdline, strict=strict)
    tree = DeviceTree.load(dtb)
    ram = tree.memory
    if not ram:
        raise ConfigError(f"{tree.name}: no memory node")
    if ram[0][1] != mem and sum(n for _, n in ram) != mem:
        raise ConfigError(f"the device tree describes {sum(n for _, n in ram) >> 20} MiB of "
                          f"RAM but the machine has {mem >> 20} MiB (dump it for the same -m)")
    dtb_size = dtb_file_size(tree.totalsize) if dtb_is_file else tree.totalsize
    layout = virt_layout(ram[0], img.text_offset, img.image_size,
                         parse_size(initrd_size, "initrd size"), dtb_size)
    st = boot(tree.as_booted(cl.text.strip(), layout.initrd), img, layout, cl, kc,
              strict=strict)
    root = build_iomem_arm64(st, img, tree)
    lim = compute_limits(st, kc)  # type: ignore[arg-type]
    # dma_alloc_coherent takes CMA pages for sizes past the buddy limit; the whole default
    # area is never free after boot (movable pages live in it), so the largest size that
    # works is the largest dkprobe size below it [measured: 64M area -> 32M, 32M -> 16M]
    cma = next((c.size for c in st.carveouts if c.name == "cma"), 0)
    buddy = PAGE << lim["gfp_max_order"]
    lim["dma_coherent_max"] = max((s for s in DKPROBE_DMA_SIZES
                                   if s <= buddy or s < cma), default=0)
    ram_ranges = [(s, s + n) for s, n in ram]
    results = []
    for s, n in parse_probes(probes):
        if not any(a <= s and s + n <= b for a, b in ram_ranges):
            raise ConfigError(
                f"probe {s:#x}+{n:#x} is not inside RAM "
                f"({', '.join(f'{a:#x}-{b - 1:#x}' for a, b in ram_ranges)}): on virt an "
                f"access where nothing is mapped is an external abort (dkprobe's readl "
                f"oopses), not the all-ones read of an x86 PC")
        results.append(probe_arm64(root, st, s, n, strict_devmem=kc.enabled("STRICT_DEVMEM"),
                                   io_strict_devmem=kc.enabled("IO_STRICT_DEVMEM")))
    src = "QEMU's -dtb file" if dtb_is_file else "generated by QEMU"
    return Arm64Plan(mem, cl, kc, img, tree, src, st, root, lim, results)


__all__ = ["Arm64Plan", "Carveout", "build_iomem_arm64", "check_arm64_cmdline", "plan_arm64",
           "probe_arm64"]
