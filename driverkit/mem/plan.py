"""`plan()`: the allocator model's whole prediction for one guest configuration.

Firmware map (predicted, or a real one passed as `e820=`) -> kernel command line ->
boot model (memblock, zones, carve-outs) -> /proc/iomem tree -> runtime limits -> probes.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from ..errors import ConfigError, MemModelError, ProbeRangeError, ResourceBusy
from ..results import JsonResult
from ..units import format_size, parse_size
from .boot import BootState, boot
from .cmdline import KernelCmdline, parse_cmdline
from .e820 import E820Entry, E820Type, parse_e820_log, parse_fw_cfg_e820
from .firmware import (
    ACPI_TABLES,
    FOUR_G,
    apply_seabios,
    firmware_e820,
    high_table_size,
    normalize_machine,
    qemu_initrd_range,
)
from .gates import Probe, WbRange, probe
from .kconfig import KernelConfig
from .kernel import KernelDescription, resolve_kernel
from .limits import limits as compute_limits
from .platform import platform_resources
from .resource import Resource, render, request_region
from .tree import build_iomem, diff_iomem

E820Input = bytes | str | Sequence[E820Entry] | Sequence[tuple[int, int, int]]


def _firmware_map(
    machine: str, memory: int, e820: E820Input | None, accel: str = "tcg", defaults: bool = True
) -> tuple[list[E820Entry], str]:
    if e820 is None:
        fw = firmware_e820(machine, memory, accel=accel, defaults=defaults)
        return fw, "predicted (QEMU 7.2 + SeaBIOS 1.16)"
    if isinstance(e820, (bytes, bytearray, memoryview)):
        fw = apply_seabios(
            parse_fw_cfg_e820(bytes(e820)), machine, high_tables=high_table_size(machine, defaults)
        )
        return fw, "fw_cfg etc/e820 + SeaBIOS edits"
    if isinstance(e820, str):
        entries = parse_e820_log(e820)
        if not entries:
            raise MemModelError("e820=: the text has no 'BIOS-e820: [mem ...]' lines")
        return entries, "from a real boot log"
    out = []
    for e in e820:
        if isinstance(e, E820Entry):
            out.append(e)
        else:
            a, s, t = e
            out.append(E820Entry(int(a), int(s), int(t)))
    if not out:
        raise MemModelError("e820=: empty map")
    return sorted(out, key=lambda x: x.addr), "given"


def _wb_ranges(firmware: list[E820Entry], machine: str) -> list[WbRange]:
    """Pages the kernel maps write-back outside System RAM: the ACPI tables SeaBIOS placed in
    its high-table block (measured offsets, firmware.ACPI_TABLES), firmware ACPI/NVS ranges."""
    out = []
    ram_ends = {e.end for e in firmware if e.type == E820Type.RAM and e.end <= FOUR_G}
    below, length = ACPI_TABLES[machine]
    for e in firmware:
        if (
            e.type == E820Type.RESERVED
            and e.addr in ram_ends
            and e.addr >= 1 << 20
            and e.size <= 16 << 20
        ):
            start = e.end - below if e.size >= below else e.addr
            end = min(e.end, -(-(start + length) // 4096) * 4096) - 1
            out.append(WbRange(start, end, "ACPI tables"))
        elif e.type in (E820Type.ACPI, E820Type.NVS):
            what = "ACPI tables" if e.type == E820Type.ACPI else "ACPI NVS"
            out.append(WbRange(e.addr, e.last, what))
    return out


@dataclass
class MemPlan(JsonResult):
    machine: str
    memory: int
    cmdline: KernelCmdline
    kconfig: KernelConfig
    firmware_source: str
    kernel: KernelDescription
    state: BootState
    iomem: Resource
    limits: dict
    probes: list[Probe]
    wb: list[WbRange]
    ram_buffer_log: list[str] = field(default_factory=list)

    # --- views ----------------------------------------------------------------------------
    @property
    def memory_total_kb(self) -> int:
        return self.state.memory_total_kb

    @property
    def warnings(self) -> list[str]:
        return self.state.warnings

    def iomem_text(self) -> str:
        """/proc/iomem as the guest kernel prints it (as root)."""
        return render(self.iomem)

    def diff_iomem(
        self, real_text: str, *, kernel: bool = False, devices: bool = False
    ) -> list[str]:
        """Unified diff against a real guest's /proc/iomem (PCI BARs and Kernel * skipped)."""
        return diff_iomem(self.iomem_text(), real_text, kernel=kernel, devices=devices)

    def dmesg_lines(self) -> list[str]:
        """The boot-log lines the model predicts (BIOS-e820, user:, last_pfn, zones, Memory:)."""
        st = self.state
        out = [e.log_line("BIOS-e820") for e in st.firmware]
        if st.user_map is not None:
            out.append("user-defined physical RAM map:")
            out += [e.log_line("user") for e in st.user_map]
        out += st.log
        out.append("Zone ranges:")
        for z in st.zones:
            out.append(
                f"  {z.name:<8} empty"
                if z.empty
                else f"  {z.name:<8} [mem {z.start:#018x}-{z.end - 1:#018x}]"
            )
        out.append(f"Memory: ?K/{st.memory_total_kb}K available")
        out += self.ram_buffer_log
        return out

    def diff_dmesg(self, log_text: str) -> list[str]:
        """What a real boot log says differently from the model, one line per disagreement.

        Compares the lines the model is sure of: BIOS-e820, the user-defined map, the first
        last_pfn, the Zone ranges block and Y of "Memory: X/YK". Crashkernel lines are left
        out (KASLR moves them). An empty list means the log agrees.
        """
        text = re.sub(r"^\[\s*[0-9.]+\]\s?", "", log_text.replace("\r", ""), flags=re.M)
        lines = text.splitlines()
        out: list[str] = []

        def section(prefix: str) -> list[str]:
            return [ln.strip() for ln in lines if ln.strip().startswith(prefix + ": [mem ")]

        st = self.state
        for prefix, want in (("BIOS-e820", st.firmware), ("user", st.user_map or [])):
            got = section(prefix)
            exp = [e.log_line(prefix) for e in want]
            if got != exp:
                out += [
                    f"{prefix}: expected {x!r}, got {y!r}"
                    for x, y in itertools.zip_longest(exp, got)
                    if x != y
                ]
        m = re.search(r"last_pfn = (0x[0-9a-f]+)", text)
        if m and int(m.group(1), 16) != st.max_pfn:
            out.append(f"last_pfn: expected {st.max_pfn:#x}, got {m.group(1)}")
        zones = re.findall(
            r"^\s+(DMA|DMA32|Normal)\s+(empty|\[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\])$", text, re.M
        )[:3]
        for z, (name, _, a, b) in zip(st.zones, zones):
            exp = None if z.empty else (z.start, z.end - 1)
            got = None if not a else (int(a, 16), int(b, 16))
            if exp != got:
                out.append(
                    f"zone {name}: expected {exp and tuple(map(hex, exp))}, "
                    f"got {got and tuple(map(hex, got))}"
                )
        m = re.search(r"Memory: \d+K/(\d+)K available", text)
        if m and int(m.group(1)) != st.memory_total_kb:
            out.append(f"Memory: expected .../{st.memory_total_kb}K, got .../{m.group(1)}K")
        if not m:
            out.append("Memory: no 'Memory: X/YK available' line in the log")
        return out

    def to_dict(self) -> dict:
        """The `memplan --json` object (DESIGN.md); to_json() is the same as text."""
        return {
            "iomem": [c.to_dict() for c in self.iomem.children],
            "memory_total_kb": self.memory_total_kb,
            "carveouts": [c.to_dict() for c in self.state.carveouts],
            "limits": dict(self.limits),
            "probes": [p.to_dict() for p in self.probes],
            "kernel": {"release": self.kernel.release, "source": self.kernel.source},
        }

    def to_text(self) -> str:
        st = self.state
        L = [
            f"memplan: {self.machine} {format_size(self.memory)}, cmdline {self.cmdline.text!r} "
            f"(firmware map {self.firmware_source})",
            f"kernel: {self.kernel.summary()}",
            "",
        ]
        L.append("Firmware map (BIOS-e820):")
        L += [
            f"  {e.addr:#018x}-{e.last:#018x}  {_tname(e.type):<22} {_sz(e.size):>8}"
            for e in st.firmware
        ]
        if st.user_map is not None:
            L += ["", "Kernel map after mem=/memmap= (user:):"]
            L += [
                f"  {e.addr:#018x}-{e.last:#018x}  {_tname(e.type):<22} {_sz(e.size):>8}"
                for e in st.user_map
            ]
        L += ["", "Zones:"]
        for z in st.zones:
            span = "empty" if z.empty else f"{z.start:#x}-{z.end - 1:#x}"
            L.append(f"  {z.name:<7} {span:<28} present {z.present_pages} pages")
        L.append(f"  Memory: .../{st.memory_total_kb}K available (Y = present pages x 4K)")
        L += ["", "Carve-outs:"]
        if not st.carveouts:
            L.append("  (none)")
        for c in st.carveouts:
            L.append(
                f"  {c.name:<28} {c.start:#012x}-{c.start + c.size - 1:#012x} {_sz(c.size):>8}"
                + (f"  {c.note}" if c.note else "")
            )
        L += ["", "Limits:"]
        for k, v in self.limits.items():
            if isinstance(v, list):
                v = ", ".join(_sz(x) for x in v)
            elif isinstance(v, int) and k not in ("gfp_max_order",) and v >= 1024:
                v = f"{v} ({_sz(v)})"
            L.append(f"  {k:<24} {v}")
        L += ["", "/proc/iomem (predicted; PCI BARs not modelled):"]
        L += ["  " + ln for ln in self.iomem_text().splitlines()]
        if self.probes:
            L += ["", "Probes:"]
            for p in self.probes:
                L.append(
                    f"  {p.start:#x}+{p.size:#x}: ioremap {p.ioremap}, memremap {p.memremap}, "
                    f"request_mem_region {p.request_mem_region}, /dev/mem mmap {p.devmem_mmap}, "
                    f"read {p.devmem_read}"
                )
                for part in p.reason.split("; "):
                    L.append(f"      {part}")
        if self.warnings:
            L += ["", "Warnings:"] + [f"  {w}" for w in self.warnings]
        return "\n".join(L) + "\n"

    def to_svg(self) -> str:
        from .svg import render_svg

        return render_svg(self)


def _bind_pmem(root: Resource, wb: list[WbRange]) -> None:
    """nd_pmem on each "Persistent Memory (legacy)" region, numbered in address order (nd_e820
    walks iomem): devm_request_mem_region(namespaceN.0) over the whole region, then
    devm_memremap_pages, which reserves the range write-back in PAT [measured: 6.1 guest,
    memmap=16M!0x30000000: busy namespace0.0, ioremap "requested 0x2, got 0x0"]."""
    regions = [r for r in root.children if r.name == "Persistent Memory (legacy)"]
    for i, r in enumerate(sorted(regions, key=lambda r: r.start)):
        name = f"namespace{i}.0"
        try:
            request_region(root, r.start, r.size, name)
        except ResourceBusy:  # something else holds part of it: the driver does not bind
            continue
        wb.append(WbRange(r.start, r.end, f"pmem {name} (nd_pmem)"))


def _tname(t: int) -> str:
    from .e820 import type_log_name

    return type_log_name(t)


def _sz(n: int) -> str:
    for suffix, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << (shift - 10 if shift > 10 else 0)) == 0:
            v = n / (1 << shift)
            return f"{v:g}{suffix}" if v == int(v) else f"{v:.2f}{suffix}"
    return f"{n}B"


def parse_probe(p: "str | tuple[int, int | str]") -> tuple[int, int]:
    """One probe range as (start, size): "START:SIZE" (SIZE like 8M or 0x800000) or a pair.

    The one parser for memplan, memcheck and the guest's dkprobe ranges: ProbeRangeError
    (a ConfigError) names the input and the numbers.
    """
    if isinstance(p, str):
        start_s, sep, size_s = p.partition(":")
        if not sep:
            raise ProbeRangeError(f"probe {p!r} is not START:SIZE (e.g. 0xF800000:8M)")
        try:
            start = int(start_s.strip(), 0)
        except ValueError:
            raise ProbeRangeError(f"probe {p!r} is not START:SIZE: start {start_s!r} is not "
                                  f"a number") from None
        size = parse_size(size_s.strip(), f"probe {p!r} size")
    else:
        try:
            start_v, size_v = p
            start, size = int(start_v), parse_size(size_v, "probe size")
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ProbeRangeError(f"probe {p!r} is not a (start, size) pair") from None
    if start < 0 or size <= 0 or start + size > 1 << 64:
        raise ProbeRangeError(f"probe {p!r}: start={start:#x} size={size:#x} is empty, "
                              f"negative or beyond 64 bits (need start >= 0, size > 0, "
                              f"start + size <= 2**64)")
    return start, size


def parse_probes(probes: Iterable) -> list[tuple[int, int]]:
    """parse_probe for each range, in order."""
    return [parse_probe(p) for p in probes]


def _kernel_and_config(
    kernel: "KernelDescription | str | os.PathLike[str] | None",
    kernel_config: "str | os.PathLike[str] | Mapping[str, object] | KernelConfig | None",
) -> tuple[KernelDescription, KernelConfig]:
    """The build and the config to follow: a config file named with an image is that image's
    (checked against it); a dict or KernelConfig overrides the build's own config."""
    if isinstance(kernel, (str, os.PathLike)) and isinstance(kernel_config, (str, os.PathLike)):
        kd = resolve_kernel(kernel, kernel_config)
        return kd, kd.config
    kd = resolve_kernel(kernel)
    if kernel_config is None:
        return kd, kd.config
    return kd, KernelConfig.load(kernel_config)


def plan(
    machine: str = "pc",
    memory: int | str = "256M",
    cmdline: str = "",
    probes: Iterable = (),
    kernel_config: "str | os.PathLike[str] | Mapping[str, object] | KernelConfig | None" = None,
    e820: E820Input | None = None,
    *,
    strict: bool = True,
    kernel_at: int | None = None,
    defaults: bool = True,
    accel: str = "tcg",
    reserve: Iterable[tuple[str, int, int]] = (),
    initrd_size: int | str = 0,
    pmem_driver: bool = False,
    kernel: "KernelDescription | str | os.PathLike[str] | None" = None,
) -> MemPlan:
    """Predict what a Linux guest does with its physical memory.

    machine: "pc" or "q35" (QEMU names like pc-q35-7.2 work); memory: QEMU -m size;
    cmdline: the kernel command line; probes: (start, size) pairs or "START:SIZE" strings;
    kernel: the kernel build: a KernelDescription, a vmlinuz path (read with its config-RELEASE
    beside it, or kernel_config), or None for the bundled description (driverkit.mem.kernel);
    kernel_config: a /boot/config-* path or dict (default: the kernel's own config);
    e820: the real firmware map (entries, raw fw_cfg etc/e820 bytes, or a dmesg text).
    kernel_at: physical _text (default CONFIG_PHYSICAL_START; KASLR moves it in reality);
    defaults: QEMU's default devices are present; False models -nodefaults, as driverkit
    launches machines (q35's SeaBIOS block is then 128K, not 132K; only one option ROM).
    accel: "tcg" or "kvm" (KVM adds the 0xfeffc000 identity-map reservation).
    reserve: (name, start, size) boot-time reservations at fixed addresses (a firmware
    carve-out, ...): reserved in memblock first and listed in `carveouts`.
    initrd_size: size of QEMU's -initrd, which sits at the top of low RAM during boot (and is
    moved when mem= excludes it), so it shifts boot allocations; 0 = none.
    pmem_driver: nd_e820 + nd_pmem are bound to the legacy pmem regions (memmap=N!A), as udev
    or the driverkit guest's init loads them: each region is claimed (busy namespaceN.0) and
    mapped write-back, so request_mem_region and an uncached ioremap there fail.
    """
    m = normalize_machine(machine)
    mem = parse_size(memory, "memory")
    kd, kc = _kernel_and_config(kernel, kernel_config)
    cl = parse_cmdline(cmdline, strict=strict)
    fw, source = _firmware_map(m, mem, e820, accel, defaults)
    isize = parse_size(initrd_size, "initrd size")
    initrd = qemu_initrd_range(m, mem, isize, defaults=defaults) if isize else None
    st = boot(fw, cl, kc, kernel_at=kernel_at, reserve=reserve, initrd=initrd, kernel=kd)
    root, rb_log = build_iomem(st, platform_resources(m, mem, defaults=defaults, rules=kd.rules))
    wb = _wb_ranges(fw, m)
    if pmem_driver:
        _bind_pmem(root, wb)
    lim = compute_limits(st, kc)
    results = [
        probe(
            root,
            st.memblock,
            wb,
            s,
            n,
            max_pfn=st.max_pfn,
            strict_devmem=kc.enabled("STRICT_DEVMEM"),
            io_strict_devmem=kc.enabled("IO_STRICT_DEVMEM"),
            iomem_relaxed=cl.iomem_relaxed,
        )
        for s, n in parse_probes(probes)
    ]
    return MemPlan(m, mem, cl, kc, source, kd, st, root, lim, results, wb, rb_log)
