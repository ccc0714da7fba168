"""Failure artifacts: everything needed to understand a failing test's machine, in one folder.

Per machine: cmdline, qemu.stderr, serial.log (copied from the machine's private
dir before teardown removes it), qmp-events.jsonl, mtree.txt (`info mtree -f`,
asked of QEMU if it is still alive), iomem.txt (the resource tree), trace.jsonl
(the MMIO/IRQ trace) and summary.txt.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .config import safe_name

if TYPE_CHECKING:
    from .state import Checkout

COPIED = ("cmdline", "qemu.stderr", "serial.log")
QUERY_TIMEOUT = 5.0


async def _mtree(m: Any) -> str:
    if not getattr(m, "alive", False) or not hasattr(m, "mtree_text"):
        return "(QEMU was not running when the artifacts were collected)\n"
    try:
        return await asyncio.wait_for(m.mtree_text(), QUERY_TIMEOUT)
    except BaseException as exc:  # the machine may be half-dead; the rest is still worth having
        return f"(info mtree -f failed: {exc!r})\n"


def _status(m: Any) -> str:
    if getattr(m, "label", "") == "replay":
        return "replay (no QEMU)"
    proc = getattr(m, "process", None)
    if proc is None:
        return "not started"
    rc = proc.returncode
    return "running" if rc is None else f"exited with status {rc}"


async def collect(m: Any, dest: Path) -> str:
    """Write one machine's artifacts into `dest`; return a one-paragraph summary."""
    dest.mkdir(parents=True, exist_ok=True)
    tmp = getattr(m, "tmpdir", None)
    for name in COPIED:
        src = Path(tmp) / name if tmp else None
        if src is not None and src.exists():
            shutil.copyfile(src, dest / name)
        else:
            (dest / name).write_text(f"({name} not available)\n")
    events = getattr(m, "events", [])
    (dest / "qmp-events.jsonl").write_text(
        "".join(json.dumps(e, default=str) + "\n" for e in events))
    (dest / "mtree.txt").write_text(await _mtree(m))
    try:
        iomem = m.iomem() if hasattr(m, "iomem") else "(no resource tree under replay)\n"
    except Exception as exc:  # noqa: BLE001 - an artifact must not hide the test's failure
        iomem = f"(resource tree unavailable: {exc!r})\n"
    (dest / "iomem.txt").write_text(iomem)
    trace = m.trace
    if "spec" not in trace.meta and hasattr(m, "spec"):
        trace.meta.setdefault("spec", spec_dict(m.spec))
    (dest / "trace.jsonl").write_text(trace.to_jsonl(header=True))
    newest = trace.last()
    last = newest.describe() if newest is not None else "none"
    spec = getattr(m, "spec", None)
    what = f"{spec.arch} {spec.machine} {spec.memory_bytes >> 20}M" if spec else repr(m)
    stderr_tail = ""
    if (dest / "qemu.stderr").exists():
        lines = (dest / "qemu.stderr").read_text(errors="replace").strip().splitlines()
        stderr_tail = " | ".join(lines[-3:])
    summary = (f"machine {what}: {_status(m)}; trace {len(trace)} events (last: {last}); "
               f"{len(events)} QMP events"
               + (f"; stderr: {stderr_tail}" if stderr_tail else ""))
    (dest / "summary.txt").write_text(summary + "\n")
    return summary


def spec_dict(spec: Any) -> dict[str, Any]:
    """A MachineSpec as plain JSON-able fields (recorded in trace headers)."""
    d: dict[str, Any] = spec.to_dict()
    return d


def reset_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _run_on(loop: asyncio.AbstractEventLoop | None, coro: Any) -> Any:
    """Run a coroutine on the (idle) loop a machine lives on, from a report hook."""
    if loop is None or loop.is_closed() or loop.is_running():
        coro.close()
        return None
    return loop.run_until_complete(coro)


def write_for(item: pytest.Item, root: Path, checkouts: list[Checkout]) -> str:
    """Collect every machine of a failing test under root/<test id>; the report section text."""
    try:
        dest = reset_dir(root / safe_name(item.nodeid))
    except OSError as exc:  # never mask the test's own failure
        return f"artifacts: could not write {root / safe_name(item.nodeid)}: {exc}"
    lines = [f"artifacts: {dest}"]
    for co in checkouts:
        where = dest if len(checkouts) == 1 else dest / co.label
        try:
            summary = _run_on(co.loop, asyncio.wait_for(collect(co.machine, where), 30))
        except Exception as exc:  # noqa: BLE001 - never mask the test's own failure
            summary = f"collecting artifacts failed: {exc!r}"
        lines.append(f"{co.label}: {summary or 'event loop unavailable; nothing collected'}")
    return "\n".join(lines)
