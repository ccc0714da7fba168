"""`driverkit memplan`: the allocator model's prediction for a guest configuration.

No QEMU is started: the firmware map, the kernel's handling of mem=/memmap=/crashkernel=,
/proc/iomem, allocator limits and ioremap/memremap//dev/mem outcomes are computed.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import ConfigError
from ..files import read_bounded
from ..mem import plan
from .common import (
    add_arm64_options,
    add_json,
    add_machine_options,
    add_model_options,
    add_svg,
    emit,
    write_svg,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "memplan", help="predict a Linux guest's physical memory map, carve-outs and ioremap gates"
    )
    add_machine_options(p)
    add_model_options(
        p,
        "a range a driver would map, e.g. 0xF800000:8M (repeatable)",
    )
    p.add_argument(
        "--kernel",
        metavar="VMLINUZ",
        help="model this kernel build: its image layout is read from the image, its config "
        "from config-RELEASE beside it (default: the guest scripts/build-guest built, else the "
        "bundled description)",
    )
    p.add_argument(
        "--kernel-config",
        metavar="FILE",
        help="the kernel's /boot/config-* (default: the one beside --kernel)",
    )
    p.add_argument(
        "--e820",
        metavar="FILE",
        help="a real firmware map: a boot log with BIOS-e820 lines, or the raw fw_cfg "
        "etc/e820 file (binary)",
    )
    p.add_argument(
        "--qemu-defaults",
        action="store_true",
        help="model QEMU with its default devices (VGA, NIC); default: -nodefaults, as driverkit "
        "launches machines",
    )
    p.add_argument(
        "--initrd-size",
        default="0",
        metavar="SIZE",
        help="size of QEMU's -initrd (it shifts boot allocations near the top of low RAM)",
    )
    p.add_argument("--pmem-driver", action="store_true",
                   help="nd_pmem is bound to memmap=N!A regions (as in the project's guest)")
    add_arm64_options(p)
    p.add_argument("--dtb", metavar="FILE",
                   help="--arch aarch64: the device tree the guest boots with (-dtb); default: "
                        "the one QEMU generates for virt and this memory size (dumped with "
                        "-machine virt,dumpdtb)")
    p.add_argument("--iomem", action="store_true", help="print only the predicted /proc/iomem text")
    add_svg(p, "the physical memory map (every range at its address, kinds coloured)")
    add_json(p)
    p.set_defaults(func=run)


MAX_E820 = 4 << 20  # a whole boot log fits; a firmware map is a few hundred bytes


def _read_e820(path: str) -> bytes | str:
    data = read_bounded(path, MAX_E820, "--e820")
    try:
        text = data.decode("utf-8")
        if "e820" in text:
            return text
    except UnicodeDecodeError:
        pass
    return data


def default_kernel() -> str | None:
    """The project's built guest kernel, if scripts/build-guest has run (else None)."""
    from ..errors import ArtifactMissing
    from ..guest.artifacts import GuestArtifacts

    try:
        return str(GuestArtifacts.locate().kernel)
    except ArtifactMissing:
        return None


def run(args: argparse.Namespace) -> int:
    if args.arch == "aarch64":
        return _run_arm64(args)
    if args.reserved_memory or args.dtb:
        raise ConfigError("--reserved-memory and --dtb are for --arch aarch64")
    if args.arch != "x86_64":
        raise ConfigError(f"memplan models x86_64 (pc, q35) and aarch64 (virt) guests, not "
                          f"{args.arch}")
    e820 = _read_e820(args.e820) if args.e820 else None
    mp = plan(
        machine=args.machine or "q35",
        memory=args.memory,
        cmdline=args.cmdline,
        probes=args.probe,
        kernel=args.kernel or default_kernel(),
        kernel_config=args.kernel_config,
        e820=e820,
        strict=not args.lenient,
        accel=args.accel,
        initrd_size=args.initrd_size,
        defaults=args.qemu_defaults,
        pmem_driver=args.pmem_driver,
    )
    write_svg(args, mp.to_svg)
    if args.iomem and not args.json:
        sys.stdout.write(mp.iomem_text())
        return 0
    emit(args, mp.to_dict(), mp.to_text())
    return 0


def _run_arm64(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..guest.artifacts import GuestArtifacts
    from ..mem.arm64 import Arm64Image, plan_arm64
    from ..mem.dt import DeviceTree, ReservedNode
    from ..mem.kernel import config_beside

    if (args.machine or "virt") != "virt":
        raise ConfigError(f"the arm64 model is for QEMU virt, not {args.machine!r}")
    if getattr(args, "svg", None):
        raise ConfigError("--svg draws the x86 maps; the arm64 model has no drawing yet")
    kernel, config = args.kernel, args.kernel_config
    if kernel is None:
        art = GuestArtifacts.locate(arch="aarch64")
        kernel, config = str(art.kernel), config or str(art.config)
    if config is None:
        found = config_beside(Path(kernel), Arm64Image.read(kernel).release)
        if found is None:
            raise ConfigError(f"no config beside {kernel}; name it with --kernel-config")
        config = str(found)
    nodes = [ReservedNode.parse(t) for t in args.reserved_memory]
    if args.dtb:
        tree = DeviceTree.load(args.dtb)
    else:
        from ..machine.dtb import virt_dtb

        tree = DeviceTree.load(virt_dtb(args.memory))
    for n in nodes:
        tree = n.add_to(tree)
    mp = plan_arm64(args.memory, args.cmdline, args.probe, kernel=kernel, kernel_config=config,
                    dtb=tree, dtb_is_file=bool(args.dtb or nodes),
                    initrd_size=args.initrd_size, strict=not args.lenient)
    if args.iomem and not args.json:
        sys.stdout.write(mp.iomem_text())
        return 0
    emit(args, mp.to_dict(), mp.to_text())
    return 0
