"""The validation matrix: real boots of the Linux guest against the allocator model.

Every case boots the guest (SeaBIOS, -nodefaults, TCG) once through
`driverkit.guest.memcheck.memcheck` and requires the model and the kernel to agree on every
counted row: each /proc/iomem line (PCI BARs aside), the BIOS-e820 and user: maps, zones,
Y of `Memory: X/YK`, the announced carve-outs, the allocator limits and every probe
(region_intersects, request_mem_region, ioremap, memremap). Each case also pins what the
kernel showed when the matrix was first run (Y, some /proc/iomem lines, carve-out names),
so a model and a kernel that drifted together would still fail.

Boots run two at a time within the module's event loop (one at a time under pytest-xdist,
where the workers already spread them); DRIVERKIT_MATRIX_JOBS overrides.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from dataclasses import dataclass

import pytest
import pytest_asyncio

from driverkit.errors import ArtifactMissing
from driverkit.guest import GuestArtifacts
from driverkit.guest.memcheck import MemCheck, memcheck
from driverkit.guest.memcheck_rows import ROM_NOTE, compare, kernel_carveouts
from driverkit.mem import plan
from driverkit.mem.kernel import KernelDescription, read_kernel
from driverkit.results import Verdict

pytestmark = pytest.mark.asyncio(loop_scope="module")

HPET = (0xFED00000, 0x400)
BOOT_TIMEOUT = 180.0  # ~4-11 s per boot; generous for a loaded 2-core machine


@dataclass(frozen=True)
class Case:
    id: str
    machine: str
    memory: str
    cmdline: str = ""
    probes: tuple[tuple[int, int], ...] = ()
    memory_total_kb: int | None = 0  # Y of "Memory: X/YK available", measured (None: KASLR)
    iomem: tuple[str, ...] = ()  # lines of the kernel's /proc/iomem (stripped), measured
    carveouts: tuple[str, ...] = ()  # what the kernel announced (crashkernel, swiotlb, ...)
    ioremap: tuple[str, ...] | None = None  # the kernel's ioremap outcome per probe, measured
    image: bool = False  # probes: one page per part of the guest kernel's image (image_probes)


#: Kernel image lines of /proc/iomem with nokaslr, measured on real boots per build (see
#: docs/memory-model.md); a build not listed is checked against the model only.
MEASURED_IMAGE = {
    "6.1.0-47-cloud-amd64": ("01000000-01e01ef1 : Kernel code", "02000000-02821fff : Kernel rodata",
                             "02a00000-02c45bff : Kernel data", "032ab000-037fffff : Kernel bss"),
    "6.1.0-50-cloud-amd64": ("01000000-01e01ef1 : Kernel code", "02000000-02822fff : Kernel rodata",
                             "02a00000-02c45d3f : Kernel data", "032ac000-037fffff : Kernel bss"),
    "6.1.0-56-cloud-amd64": ("01000000-01e01ef1 : Kernel code", "02000000-02826fff : Kernel rodata",
                             "02a00000-02c45dff : Kernel data", "032b1000-037fffff : Kernel bss"),
    "6.1.0-57-cloud-amd64": ("01000000-01e01ef1 : Kernel code", "02000000-02826fff : Kernel rodata",
                             "02a00000-02c45dff : Kernel data", "032b1000-037fffff : Kernel bss"),
    "6.1.0-57-amd64": ("01000000-01e01d31 : Kernel code", "02000000-028eafff : Kernel rodata",
                       "02a00000-02c4897f : Kernel data", "03310000-043fffff : Kernel bss"),
    "6.12.117+deb13-cloud-amd64": ("01000000-01ffffff : Kernel code",
                                   "02000000-02ac0fff : Kernel rodata",
                                   "02c00000-02e72a7f : Kernel data",
                                   "036dc000-03bfffff : Kernel bss"),
}
NOKASLR_AT = 0x1000000  # CONFIG_PHYSICAL_START


def image_probes(kd: KernelDescription) -> tuple[tuple[tuple[int, int], ...], tuple[str, ...]]:
    """A page in each part of the image the kernel keeps (code, bss, the used part of
    .bss..decrypted) and at the start of each part it frees after boot, with the ioremap
    outcome the kernel must show: kept pages are PageReserved (ok), freed ones RAM in use."""
    kept = [0, kd.layout.resources["Kernel bss"][0]]
    dec = kd.freed.get("unused decrypted memory")
    if dec:
        kept.append(dec[0] - 0x1000)
    freed = sorted(a for a, _ in kd.freed.values())
    probes = tuple((NOKASLR_AT + off, 0x1000) for off in kept + freed)
    return probes, ("ok",) * len(kept) + ("fail",) * len(freed)


LOW_ROM = "fffc0000-ffffffff : Reserved"
CASES = [
    Case("pc-256M", "pc", "256M", "",
         ((0xF800000, 0x800000), (0xFFE0000, 0x2000), (0xFFE2000, 0x1E000), HPET),
         261624, ("00100000-0ffdffff : System RAM", "0ffe0000-0fffffff : Reserved", LOW_ROM)),
    Case("q35-256M", "q35", "256M", "", ((0xFFE0000, 0x3000), (0xFFE3000, 0x1D000), HPET),
         261624, ("00100000-0ffdffff : System RAM", "b0000000-bfffffff : Reserved",
                  "fed1c000-fed1ffff : Reserved")),
    Case("pc-128M", "pc", "128M", "", ((0x7000000, 0x1000),),
         130552, ("00100000-07fdffff : System RAM",)),
    Case("q35-1G", "q35", "1G", "", ((0x3FFE0000, 0x20000), (0xB0000000, 0x1000)),
         1048056, ("00100000-3ffdffff : System RAM", "3ffe0000-3fffffff : Reserved")),
    # 3.5 GiB is where pc starts splitting RAM at 3 GiB; the rest goes above 4 GiB
    Case("pc-3584M-split", "pc", "3584M", "", ((0xBFFE0000, 0x2000), (0x100000000, 0x1000)),
         3669496, ("00100000-bffdffff : System RAM", "100000000-11fffffff : System RAM"),
         ("swiotlb",)),
    Case("pc-4G-split", "pc", "4G", "", ((0xBFFE0000, 0x20000), (0x100000000, 0x1000)),
         4193784, ("00100000-bffdffff : System RAM", "100000000-13fffffff : System RAM"),
         ("swiotlb",)),
    Case("q35-3G-split", "q35", "3G", "", ((0x7FFE0000, 0x3000), (0x13FFFF000, 0x1000)),
         3145208, ("00100000-7ffdffff : System RAM", "100000000-13fffffff : System RAM"),
         ("swiotlb",)),
    Case("pc-256M-mem248M", "pc", "256M", "mem=248M",
         ((0xF800000, 0x800000), (0xF800000, 0x7E0000)),
         253560, ("00100000-0f7fffff : System RAM", "0f800000-0ffdffff : RAM buffer")),
    Case("pc-256M-mem250000K", "pc", "256M", "mem=250000K", ((0xF420000, 0x1000),),
         249608, ("00100000-0f423fff : System RAM", "0f424000-0ffdffff : RAM buffer")),
    Case("q35-512M-memhex", "q35", "512M", "mem=0x1F000000", ((0x1F000000, 0xFE0000),),
         507512, ("00100000-1effffff : System RAM", "1f000000-1ffdffff : RAM buffer")),
    Case("q35-4G-mem3G", "q35", "4G", "mem=3G", ((0x7FFE0000, 0x3000), (0x100000000, 0x1000)),
         2096632, ("00100000-7ffdffff : System RAM",)),
    Case("pc-256M-memmap-reserve", "pc", "256M", "memmap=8M$0xE000000",
         ((0xE000000, 0x800000), (0xE000000, 0x1000)),
         253432, ("00100000-0dffffff : System RAM", "0e000000-0e7fffff : Reserved",
                  "0e800000-0ffdffff : System RAM")),
    Case("q35-512M-memmap-pmem", "q35", "512M", "memmap=16M!0x10000000",
         ((0x10000000, 0x1000000), (0x10800000, 0x1000)),
         507384, ("10000000-10ffffff : Persistent Memory (legacy)",
                  "10000000-10ffffff : namespace0.0", "11000000-1ffdffff : System RAM")),
    Case("pc-1G-memmap-mixed", "pc", "1G",
         "memmap=32M$0x20000000 memmap=16M!0x30000000 memmap=4M#0x38000000",
         ((0x20000000, 0x2000000), (0x30000000, 0x1000), (0x38000000, 0x400000)),
         994808, ("20000000-21ffffff : Reserved", "30000000-30ffffff : Persistent Memory (legacy)",
                  "38000000-383fffff : ACPI Tables", "38400000-3ffdffff : System RAM")),
    # the decompressor ignores exactmap, so KASLR may put the kernel past the 200M map; the
    # kernel then forces its image into RAM (System RAM and Y grow): Y is pinned only as
    # model == kernel here (205432K when the image lands inside the map)
    Case("pc-256M-exactmap", "pc", "256M", "memmap=exactmap memmap=636K@0 memmap=200M@1M",
         ((0xC900000, 0x100000),),
         None, ("00001000-0009efff : System RAM", "0009f000-0009ffff : RAM buffer")),
    Case("pc-256M-crashkernel", "pc", "256M", "crashkernel=64M", (HPET,),
         261624, ("00100000-0ffdffff : System RAM",), ("crashkernel",)),
    Case("q35-1G-crashkernel-range", "q35", "1G", "crashkernel=512M-:48M", (),
         1048056, ("00100000-3ffdffff : System RAM",), ("crashkernel",)),
    Case("pc-5G-crashkernel-high", "pc", "5G", "crashkernel=256M,high", (),
         5242360, ("100000000-17fffffff : System RAM",),
         ("crashkernel", "crashkernel_low", "swiotlb")),
    # nokaslr pins the image at 16 MiB: the parts the kernel frees after boot (gaps, initmem,
    # SMP alternatives, unused decrypted bss) are RAM in use, the rest stays reserved
    Case("pc-512M-nokaslr-kernel-image", "pc", "512M", "nokaslr", (), 523768, image=True),
    # this kernel has no CONFIG_CMA: the model must predict no CMA area and the kernel agree
    Case("pc-256M-cma", "pc", "256M", "cma=16M", ((0xF000000, 0x1000000),),
         261624, ("00100000-0ffdffff : System RAM",)),
]
BY_ID = {c.id: c for c in CASES}


def _for_guest(case: Case, art: GuestArtifacts) -> Case:
    """The case as run on this guest: image probes and pins from the kernel it boots."""
    if not case.image:
        return case
    kd = read_kernel(art.kernel, art.config)
    probes, ioremap = image_probes(kd)
    return dataclasses.replace(case, probes=probes, ioremap=ioremap,
                               iomem=MEASURED_IMAGE.get(kd.release, ()))


def _jobs() -> int:
    env = os.environ.get("DRIVERKIT_MATRIX_JOBS")
    if env:
        return max(1, int(env))
    return 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2


def _other_releases() -> list[str]:
    """The kernels built beside the default guest (scripts/build-guest --matrix builds some)."""
    try:
        default = GuestArtifacts.locate().kernel_release
    except ArtifactMissing:
        return []
    return [r for r in GuestArtifacts.releases() if r != default]


#: the cases run on every other built kernel: plain maps of both machines, RAM above 4 GiB
#: (swiotlb), mem=, legacy pmem, crashkernel low and high, and the kernel image itself
OTHER_CASES = ("pc-256M", "q35-256M", "pc-3584M-split", "pc-256M-mem248M",
               "q35-512M-memmap-pmem", "pc-256M-crashkernel", "pc-5G-crashkernel-high",
               "pc-512M-nokaslr-kernel-image")
OTHER = _other_releases()


def _guest(release: str | None) -> GuestArtifacts:
    return GuestArtifacts.locate(release=release)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def booted(request):
    """`await booted(case[, release])` -> MemCheck; boots the next selected case(s) alongside."""
    try:
        GuestArtifacts.locate()
    except ArtifactMissing as exc:
        pytest.skip(f"Linux guest not built: {exc}")
    order = [(item.callspec.params.get("release"), item.callspec.params["case"].id)
             for item in request.session.items
             if item.module is request.module and hasattr(item, "callspec")
             and "case" in item.callspec.params]
    tasks: dict[tuple[str | None, str], asyncio.Task] = {}

    def start(key: tuple[str | None, str]) -> None:
        art = _guest(key[0])
        case = _for_guest(BY_ID[key[1]], art)
        tasks[key] = asyncio.ensure_future(memcheck(
            case.machine, case.memory, case.cmdline, case.probes, timeout=BOOT_TIMEOUT,
            artifacts=art))

    async def get(case: Case, release: str | None = None) -> MemCheck:
        key = (release, case.id)
        if key not in tasks:
            start(key)
            later = order[order.index(key) + 1:] if key in order else []
            for k in [k for k in later if k not in tasks][: _jobs() - 1]:
                start(k)
        return await tasks[key]

    yield get
    for t in tasks.values():
        t.cancel()  # a partner whose test did not run (-x): its Machine tears QEMU down
    await asyncio.gather(*tasks.values(), return_exceptions=True)


async def _check(case: Case, booted, release: str | None = None) -> None:
    mc = await booted(case, release)
    art = _guest(release)
    case = _for_guest(case, art)
    assert mc.guest_release == art.kernel_release == mc.plan.kernel.release
    assert mc.agree, mc.to_text()
    iomem = mc.section("iomem")
    assert iomem and all(r.verdict == Verdict.AGREE or r.note == ROM_NOTE for r in iomem)
    kernel_lines = [r.observed.strip() for r in iomem if r.observed]
    assert any(line.endswith(": System RAM") for line in kernel_lines)
    for line in case.iomem:  # the ground truth this case was measured with
        assert line in kernel_lines, f"{line!r} not in the kernel's /proc/iomem"
    assert mc.report.memory_total_kb == mc.plan.memory_total_kb
    if case.memory_total_kb is not None:
        assert mc.report.memory_total_kb == case.memory_total_kb
    assert sorted(c.name for c in kernel_carveouts(mc.report)) == sorted(case.carveouts)
    probes = mc.section("probes")
    assert len(probes) == 4 * len(case.probes)
    if not art.has_probe:  # e.g. 6.12 here: no gcc-14 for dkprobe; everything else counts
        assert all(r.verdict is Verdict.INFO and "not compared" in r.note for r in probes)
        assert all(r.verdict is Verdict.INFO for r in mc.section("limits"))
        assert "has no dkprobe" in mc.to_text()
        return
    assert all(r.verdict == Verdict.AGREE for r in probes)
    if case.ioremap is not None:
        assert tuple(r.ioremap for r in mc.report.probe.ranges) == case.ioremap
    assert [r.verdict for r in mc.section("limits") if r.counted] == [Verdict.AGREE] * 3


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_model_agrees_with_the_kernel(case: Case, booted) -> None:
    await _check(case, booted)


@pytest.mark.parametrize("release,case", [(r, BY_ID[c]) for r in OTHER for c in OTHER_CASES],
                         ids=[f"{r}:{c}" for r in OTHER for c in OTHER_CASES])
async def test_model_agrees_with_another_kernel(release: str, case: Case, booted) -> None:
    """The same model against another build (another ABI, flavour or version)."""
    await _check(case, booted, release)


async def test_the_matrix_has_a_second_kernel() -> None:
    """No result may depend on the one ABI apt offered the day the guest was built."""
    if not OTHER:
        pytest.skip("only one guest kernel built; run scripts/build-guest --matrix "
                    "(scripts/test does)")
    assert {_guest(r).kernel_release for r in OTHER} == set(OTHER)


async def test_cma_is_refused_by_this_kernel(booted) -> None:
    mc = await booted(BY_ID["pc-256M-cma"])
    (row,) = [r for r in mc.section("carveouts") if r.key == "cma"]
    assert (row.expected, row.observed, row.verdict) == ("no CMA", "no CMA", Verdict.AGREE)
    assert mc.plan.limits["cma_total"] == 0
    assert "CmaTotal" not in mc.report.meminfo or mc.report.meminfo["CmaTotal"] == 0
    assert "cma: Reserved" not in mc.report.dmesg


async def test_a_wrong_model_is_reported_row_by_row(booted) -> None:
    """The comparison must fail loudly: the mem=248M boot against a plan for mem=240M."""
    mc = await booted(BY_ID["pc-256M-mem248M"])
    wrong = plan("pc", "256M", "mem=240M", probes=mc.probes, defaults=False, kernel=mc.plan.kernel,
                 initrd_size=mc.initrd_size, kernel_at=mc.kernel_at)
    rows = compare(wrong, mc.report)
    differ = {(r.section, r.key) for r in rows if r.verdict == Verdict.DIFFER}
    assert ("memory", "Y") in differ
    assert ("iomem", "00100000-0effffff : System RAM") in differ
    assert ("zones", "DMA32") in differ and ("zones", "last_pfn") in differ
    assert any(s == "e820-user" for s, _ in differ)
    bad = MemCheck(mc.machine, mc.memory, "mem=240M", mc.probes, wrong, mc.report,
                   mc.kernel_at, mc.initrd_size, rows)
    assert not bad.agree and bad.to_dict()["verdict"] == "differ"
    assert "verdict: DIFFER" in bad.to_text()


async def test_a_legacy_rom_found_in_one_boot_is_shown_not_counted(booted) -> None:
    """SeaBIOS's 0x55AA block at 0xe8800 passes probe_roms' checksum in some boots only."""
    mc = await booted(BY_ID["pc-256M-exactmap"])
    assert mc.agree, mc.to_text()
    text = mc.report.sections["iomem"]
    rom = "000e8800-000effff : Adapter ROM\n"
    at = text.index("000f0000-000fffff : System ROM")
    seen = dataclasses.replace(mc.report, sections={**mc.report.sections,
                                                     "iomem": text[:at] + rom + text[at:]})
    rows = compare(mc.plan, seen)
    (row,) = [r for r in rows if r.observed and "Adapter ROM" in r.observed]
    assert (row.expected, row.verdict, row.counted) == (None, Verdict.INFO, False)
    assert [r for r in rows if r.verdict == Verdict.DIFFER] == []
    # anything else the model lacks still counts
    extra = "10000000000-10000000fff : System RAM\n"  # past everything the guest has
    other = dataclasses.replace(mc.report, sections={**mc.report.sections,
                                                      "iomem": text + extra})
    differ = [r.observed for r in compare(mc.plan, other) if r.verdict == Verdict.DIFFER]
    assert differ == [extra.strip()]
