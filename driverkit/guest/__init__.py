"""The real Linux guest: build artifacts, its MachineSpec, report parsers and serial shell.

Build it once with scripts/build-guest; then

    spec = linux_guest_spec("mem=248M", probes=[(0xF800000, 0x7E0000)])
    async with Machine(spec) as m:
        shell = GuestShell(m.console)
        report = await shell.wait_ready()      # parsed /proc/iomem, meminfo, dmesg, DKPROBE...
        print((await shell.run("cat /proc/cmdline")).output)
"""

from .artifacts import GuestArtifacts, cache_dir
from .linux import linux_guest_spec
from .pattern import pattern_bytes, pattern_word
from .report import (
    GuestReport,
    IomemNode,
    ProbeReport,
    RangeProbe,
    parse_dkprobe,
    parse_iomem,
    parse_report,
    split_sections,
)
from .shell import CommandResult, GuestShell

__all__ = [
    "CommandResult",
    "GuestArtifacts",
    "GuestReport",
    "GuestShell",
    "IomemNode",
    "ProbeReport",
    "RangeProbe",
    "cache_dir",
    "linux_guest_spec",
    "parse_dkprobe",
    "parse_iomem",
    "parse_report",
    "pattern_bytes",
    "pattern_word",
    "split_sections",
]
