"""The device tree QEMU generates for an arm `virt` machine (`-machine virt,dumpdtb=FILE`).

The model reads the board from it (driverkit.mem.dt) and carve-outs are added to it before
a boot with `-dtb`. QEMU writes the blob and exits without running the guest.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Iterable

from ..errors import MachineError
from ..units import parse_size
from .argv import qemu_binary

DUMP_TIMEOUT = 20.0


def virt_dtb(memory: int | str = "256M", *, cpu: str = "cortex-a57",
             extra_args: Iterable[str] = ()) -> bytes:
    """The blob QEMU's virt board generates for this much RAM and this CPU (-nodefaults)."""
    mib = parse_size(memory, "memory") >> 20
    with tempfile.TemporaryDirectory(prefix="driverkit-dtb-") as tmp:
        out = Path(tmp) / "virt.dtb"
        argv = [qemu_binary("aarch64"), "-M", f"virt,dumpdtb={out}", "-cpu", cpu,
                "-m", f"{mib}M", "-nodefaults", "-display", "none", "-no-user-config",
                *extra_args]
        try:
            run = subprocess.run(argv, capture_output=True, text=True, timeout=DUMP_TIMEOUT,
                                 stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise MachineError(f"QEMU did not dump the virt DTB within {DUMP_TIMEOUT} s: "
                               f"{' '.join(argv)}") from None
        if run.returncode != 0 or not out.is_file():
            raise MachineError(f"QEMU could not dump the virt DTB (exit {run.returncode}): "
                               f"{run.stderr.strip()[-500:]}")
        return out.read_bytes()
