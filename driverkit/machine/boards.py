"""Boards of the installed QEMU: which exist, which CPU each fixes, and its memory map.

Asked from QEMU itself (`-M help`; a paused probe instance answering QMP query-cpus-fast and
`info mtree -f`), never from a table kept here, so a board QEMU adds or changes is seen as it is.
"""

from __future__ import annotations

import functools
import json
import subprocess
from dataclasses import dataclass

from ..errors import BoardError, MachineError
from ..transport.mtree import FlatRange, FlatView
from .argv import qemu_binary

PROBE_TIMEOUT = 10.0


def qtest_address_space(arch: str) -> str:
    """The address space qtest accesses reach: the CPU's (on Cortex-M boards flash and SRAM sit
    in the CPU's container, not in system memory), "memory" where both agree."""
    return "cpu-memory-0" if arch == "arm" else "memory"


@functools.lru_cache(maxsize=None)
def available_machines(arch: str) -> dict[str, str]:
    """Board name -> description, as `qemu-system-<arch> -M help` lists them."""
    out = subprocess.run([qemu_binary(arch), "-M", "help"], capture_output=True, text=True,
                         timeout=PROBE_TIMEOUT, check=False).stdout
    boards = {}
    for line in out.splitlines()[1:]:
        name, _, desc = line.strip().partition(" ")
        if name:
            boards[name] = desc.strip()
    return boards


def check_machine(arch: str, machine: str) -> None:
    """BoardError listing the boards that exist when `machine` is not one of them."""
    boards = available_machines(arch)
    if machine not in boards:
        raise BoardError(
            f"machine {machine!r} does not exist in the installed {qemu_binary(arch)}; "
            f"it offers: {', '.join(sorted(boards))}")


@dataclass(frozen=True)
class BoardInfo:
    """What a paused instance of the board reports about itself."""

    machine: str
    cpu_type: str  # QOM type of CPU 0, e.g. "cortex-m0-arm-cpu"
    flat: FlatView  # system memory as QEMU renders it
    counter_hz: int = 0  # the CPU's generic timer frequency (QOM "cntfrq"); 0: it has none
    a64: bool = False  # the CPU starts in AArch64 (QOM "aarch64")

    @property
    def cpu_model(self) -> str:
        return self.cpu_type.removesuffix("-arm-cpu")

    @property
    def m_profile(self) -> bool:
        """Cortex-M (vector table boot, Thumb only) rather than A/R profile."""
        return self.cpu_model.startswith("cortex-m")

    def ram(self) -> list[FlatRange]:
        return [r for r in self.flat.ranges if r.backing == "RAM"]

    def scratch_ram(self) -> FlatRange:
        """A RAM range that is not the one at address 0 (where a boot image lives)."""
        at0 = self.flat.find(0)
        for r in self.ram():
            if at0 is None or r.name != at0.name:
                return r
        raise BoardError(f"board {self.machine} has no RAM besides its boot memory: "
                         f"{[(hex(r.start), r.name) for r in self.flat.ranges[:8]]}")


def _qmp_session(argv: list[str], commands: list[tuple[str, dict]]) -> list[object]:
    """Run QEMU with QMP on stdio, send `commands`, return their results."""
    lines = [json.dumps({"execute": "qmp_capabilities"})]
    lines += [json.dumps({"execute": c, "arguments": a}) for c, a in commands]
    lines.append(json.dumps({"execute": "quit"}))
    proc = subprocess.run(argv + ["-qmp", "stdio"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False)
    results: list[object] = []
    for line in proc.stdout.splitlines():
        msg = json.loads(line)
        if "error" in msg:
            raise MachineError(f"board probe: {msg['error'].get('desc')} "
                               f"({' '.join(argv)}; {proc.stderr.strip()[-300:]})")
        if "return" in msg:
            results.append(msg["return"])
    if len(results) < len(commands) + 1:
        raise MachineError(f"board probe {' '.join(argv)} failed: {proc.stderr.strip()[-500:]}")
    return results[1:len(commands) + 1]


@functools.lru_cache(maxsize=None)
def probe_board(arch: str, machine: str, cpu: str | None = None) -> BoardInfo:
    """Start the board paused (no firmware runs), ask for its CPU (the board's own, or
    `cpu`) and memory tree, quit."""
    if arch == "arm":
        check_machine(arch, machine)
    argv = [qemu_binary(arch), "-M", machine, "-S", "-display", "none", "-nodefaults",
            "-no-user-config"] + (["-cpu", cpu] if cpu else [])
    (cpus,) = _qmp_session(argv, [("query-cpus-fast", {})])
    if not cpus:
        raise BoardError(f"board {machine} has no CPU")
    cpu_path = str(cpus[0]["qom-path"])  # type: ignore[index]
    cpu_type, props, mtree = _qmp_session(argv, [
        ("qom-get", {"path": cpu_path, "property": "type"}),
        ("qom-list", {"path": cpu_path}),
        ("human-monitor-command", {"command-line": "info mtree -f"}),
    ])
    names = {str(p["name"]) for p in props}  # type: ignore[attr-defined,index]
    asks = [("qom-get", {"path": cpu_path, "property": n}) for n in ("cntfrq", "aarch64")
            if n in names]
    got = dict(zip([a[1]["property"] for a in asks], _qmp_session(argv, asks) if asks else []))
    return BoardInfo(machine, str(cpu_type), FlatView.parse(str(mtree), qtest_address_space(arch)),
                     counter_hz=int(got.get("cntfrq", 0)),  # type: ignore[call-overload]
                     a64=bool(got.get("aarch64", False)))
