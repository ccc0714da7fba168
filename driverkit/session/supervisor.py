"""The session supervisor: a small process that owns one Machine and serves its socket.

Started by `driverkit start` as `python -m driverkit.session.supervisor DIR` in its own
process group; it reads DIR/spec.json, launches the machine, writes DIR/info.json, says
"ready" (one JSON line) on stdout, and then runs requests one at a time until `stop`,
SIGTERM or SIGINT. QEMU dying does not end it: `status` then reports the death, and
`stop` removes everything (QEMU is reaped by Machine.close; DIR is deleted).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import DriverkitError, SessionError
from ..machine.machine import Machine
from ..machine.spec import MachineSpec
from .paths import remove_session_dir
from .protocol import MAX_LINE, decode, encode


def spec_to_json(spec: MachineSpec) -> dict:
    """The summary `sessions` and `status` show (the whole spec is MachineSpec.to_dict)."""
    return {"arch": spec.arch, "machine": spec.machine, "memory": spec.memory_bytes,
            "devices": list(spec.devices), "firmware": spec.firmware, "accel": spec.accel}


class Supervisor:
    def __init__(self, dir: Path, spec: MachineSpec) -> None:
        self.dir = dir
        self.spec = spec
        self.machine = Machine(spec)
        self.lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.started = time.time()
        self._parser = None

    # --- requests -------------------------------------------------------------------------

    def status(self) -> dict:
        m = self.machine
        proc = m.process
        rc = proc.returncode if proc is not None else None
        if rc is None and m.alive:
            state, detail = "running", "running"
        else:
            state = "died"
            detail = f"QEMU died (exit status {rc})" if rc is not None else "QEMU is gone"
            tail = proc.stderr_tail() if proc is not None else ""
            if tail:
                detail += f": {tail.strip().splitlines()[-1]}"
        return {"state": state, "detail": detail, "pid": os.getpid(),
                "qemu_pid": proc.pid if proc is not None else None, "qemu_exit": rc,
                "spec": spec_to_json(self.spec), "started": self.started}

    async def run_command(self, argv: list[str]) -> dict:
        from ..cli import build_parser

        if self._parser is None:
            self._parser = build_parser()
        args = self._parser.parse_args(argv)
        body = getattr(args, "machine_body", None)
        if body is None:
            raise SessionError(f"`{args.command}` is not a machine command; run it without "
                               "--session")
        args.argv = argv
        self.machine.check_alive()
        out = await body(self.machine, args)
        return {"outcome": out.to_wire()}

    async def call(self, method: str, kw: dict[str, Any]) -> Any:
        m = self.machine
        if method == "read_bytes":
            return base64.b64encode(m.read_phys(int(kw["addr"]), int(kw["n"]))).decode()
        if method in ("cfg_read", "cfg_write"):
            dev = m.pci.get(str(kw["bdf"]))
            if method == "cfg_read":
                return dev.read_config(int(kw["offset"]), int(kw["width"]))
            # a COMMAND or BAR write can map or unmap MMIO: the qtest write hook marks the
            # map stale, and the next access that depends on it re-reads it
            dev.write_config(int(kw["offset"]), int(kw["width"]), int(kw["value"]))
            return None
        space = {"read": "addr", "write": "addr", "pio_read": "port", "pio_write": "port"}
        if method in space:
            width = int(kw["width"])
            where = int(kw[space[method]])
            io = m.ioremap(where, width) if space[method] == "addr" else m.ioport_map(where, width)
            if method.endswith("read"):
                return io.read_width(0, width)
            io.write_width(0, width, int(kw["value"]))
            return None
        raise SessionError(f"unknown call {method!r}")

    async def handle(self, req: dict) -> dict:
        op = req.get("op")
        if op == "status":
            return {"ok": True, **self.status()}
        if op == "stop":
            self.stopping.set()
            return {"ok": True}
        async with self.lock:
            if op == "run":
                argv = req.get("argv")
                if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
                    raise SessionError(f"run needs argv, a list of strings, got {argv!r}")
                return {"ok": True, **await self.run_command(argv)}
            if op == "call":
                self.machine.check_alive()
                return {"ok": True, "value": await self.call(str(req.get("method")),
                                                             dict(req.get("args") or {}))}
        raise SessionError(f"unknown request {op!r}")

    async def serve_client(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
        try:
            while not reader.at_eof():
                line = await reader.readline()
                if not line:
                    break
                try:
                    reply = await self.handle(decode(line))
                except DriverkitError as exc:
                    reply = {"ok": False, "error": str(exc), "type": type(exc).__name__}
                except Exception as exc:  # a bug must not take the session down
                    reply = {"ok": False, "error": f"internal error: {exc!r}",
                             "type": "SessionError"}
                writer.write(encode(reply))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    # --- life -----------------------------------------------------------------------------

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self.stopping.set)
        sock = self.dir / "sock"
        try:
            await self.machine.start()
            server = await asyncio.start_unix_server(self.serve_client, path=str(sock),
                                                     limit=MAX_LINE)
        except BaseException as exc:
            await self.machine.close()
            _ready({"ok": False, "error": str(exc), "type": type(exc).__name__})
            return 1
        os.chmod(sock, 0o600)
        (self.dir / "info.json").write_text(json.dumps(self.status()))
        _ready({"ok": True, **self.status()})
        try:
            await self.stopping.wait()
        finally:
            server.close()
            await self.machine.close()
        return 0


def _ready(obj: dict) -> None:
    """Tell `driverkit start` how it went, then let go of its pipe."""
    try:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()
    except OSError:
        pass
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def main(argv: list[str]) -> int:
    dir = Path(argv[0])
    try:
        spec = MachineSpec(**json.loads((dir / "spec.json").read_text()))
    except (OSError, ValueError, TypeError, DriverkitError) as exc:
        _ready({"ok": False, "error": f"bad session spec: {exc}", "type": "SessionError"})
        return 1
    try:
        return asyncio.run(Supervisor(dir, spec).main())
    finally:
        remove_session_dir(dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
