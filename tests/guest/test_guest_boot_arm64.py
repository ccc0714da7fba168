"""One real boot of the arm64 Linux guest (QEMU virt, cortex-a57, TCG, 256M, no firmware).

Checks that the guest built by guest/linux/build-arm64.sh boots to its shell, that init's
reports parse as on x86 (iomem, meminfo, the CMA line, dkprobe), and that shell commands
round-trip. What the figures should be is the model's business (tests/memcheck).
"""

from __future__ import annotations

import pytest
import pytest_asyncio

from driverkit import Machine
from driverkit.errors import ArtifactMissing
from driverkit.guest import GuestArtifacts, GuestShell, linux_guest_spec
from driverkit.guest.report import iomem_find

BOOT_TIMEOUT = 120.0  # ~4 s alone under TCG; generous for a loaded 2-core machine

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def guest():
    try:
        art = GuestArtifacts.locate(arch="aarch64")
    except ArtifactMissing as exc:
        pytest.skip(f"arm64 Linux guest not built: {exc}")
    # inside RAM: on virt an access past the end of RAM is an external abort (an oops in
    # dkprobe's readl), not the all-ones read of an x86 PC
    probes = [(0x48000000, 0x1000)] if art.has_probe else []
    spec = linux_guest_spec(arch="aarch64", probes=probes, artifacts=art)
    async with Machine(spec) as m:
        shell = GuestShell(m.console, timeout=20.0)
        report = await shell.wait_ready(BOOT_TIMEOUT)
        yield art, m, shell, report


async def test_arm64_guest_reports(guest):
    art, m, _, report = guest
    assert m.spec.arch == "aarch64" and m.spec.firmware == "direct"
    # laid out like the x86 guests: guest-aarch64/RELEASE/, the default linked
    assert art.kernel_release in GuestArtifacts.releases(arch="aarch64")
    ram = iomem_find(report.iomem, "System RAM")
    assert [(n.start, n.size) for n in ram] == [(0x40000000, 256 << 20)]
    assert {c.name for c in report.carveouts} == {"cma"}  # Debian arm64: CONFIG_CMA, 64 MiB
    assert report.memory is not None and report.memory.cma_reserved_kb == 65536
    assert report.meminfo["CmaTotal"] == 65536
    # measured: the boot logs no access QEMU refused (a checked read would meet it otherwise)
    assert "Invalid" not in m.guest_errors.path.read_text()
    if art.has_probe:
        assert report.probe is not None and report.probe.complete and not report.probe.errors
        ram = report.probe.range(0x48000000, 0x1000)
        # arm64 ioremap refuses memory in the linear map (pfn_is_map_memory), reserved or not
        assert (ram.ram, ram.request, ram.ioremap) == ("all", "ebusy", "fail")


async def test_arm64_shell_round_trip(guest):
    _, _, shell, _ = guest
    r = await shell.run("uname -m; cat /etc/dk-release")
    assert r.output.split()[0] == "aarch64"
    assert r.output.split()[1].endswith("-cloud-arm64")
