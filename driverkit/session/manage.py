"""Starting, listing and stopping sessions (what `driverkit start/sessions/stop` do)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

from ..errors import SessionError
from ..machine.spec import MachineSpec
from .client import Session, names, pid_alive, read_info
from .paths import claim_session_dir, remove_session_dir, session_dir

START_SLACK = 20.0  # seconds beyond the machine's own startup deadline (Python import, QMP)
STOP_TIMEOUT = 15.0


def start(name: str, spec: MachineSpec) -> dict:
    """Start session `name` on a new machine; returns its status once the machine answers."""
    try:
        d = claim_session_dir(name)  # atomically claims the name
    except FileExistsError:
        info = read_info(name)
        if info and pid_alive(int(info.get("pid", 0))):
            raise SessionError(f"session {name!r} already exists (supervisor pid {info['pid']}, "
                               f"{info['spec']['arch']} {info['spec']['machine']}); pick "
                               f"another name or `driverkit stop {name}`") from None
        raise SessionError(f"session {name!r} exists but its supervisor is gone; "
                           f"`driverkit stop {name}` removes it") from None
    (d / "spec.json").write_text(json.dumps(spec.to_dict()))  # every field: the same machine
    log = open(d / "log", "wb")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "driverkit.session.supervisor", str(d)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
            start_new_session=True, close_fds=True,
        )
    except OSError as exc:
        remove_session_dir(d)
        raise SessionError(f"cannot start the supervisor: {exc.strerror}") from None
    finally:
        log.close()
    assert proc.stdout is not None
    deadline = time.monotonic() + spec.startup_timeout + START_SLACK
    line = b""
    try:
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
                raise SessionError(f"session {name!r}: the machine did not come up within "
                                   f"{spec.startup_timeout + START_SLACK:g} s")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
    except BaseException:
        _kill(proc.pid)
        proc.wait(5)
        remove_session_dir(d)
        raise
    finally:
        proc.stdout.close()
    try:
        reply = json.loads(line)
    except ValueError:
        reply = {"ok": False, "error": "the supervisor exited without a word: "
                 + _tail(d / "log")}
    if not reply.get("ok"):
        proc.wait(10)
        remove_session_dir(d)
        raise SessionError(f"session {name!r} did not start: {reply.get('error')}")
    reply.pop("ok", None)
    return {"name": name, **reply}


def _tail(path) -> str:
    try:
        return path.read_text(errors="replace")[-400:].strip() or "(no output)"
    except OSError:
        return "(no log)"


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def list_sessions() -> list[dict]:
    """Every session of this user with its state: running, died (QEMU gone), or stale."""
    out = []
    for name in names():
        info = read_info(name) or {}
        row = {"name": name, "pid": info.get("pid"), "spec": info.get("spec"),
               "started": info.get("started")}
        if not info or not pid_alive(int(info.get("pid", 0))):
            row.update(state="stale", detail="supervisor gone (killed?); `driverkit stop "
                       f"{name}` removes it" if info else "starting, or left by a crash")
        else:
            try:
                with Session(name, timeout=5.0) as s:
                    st = s.status()
                row.update(state=st["state"], detail=st["detail"], qemu_pid=st["qemu_pid"])
            except SessionError as exc:
                row.update(state="unreachable", detail=str(exc))
        out.append(row)
    return out


def stop(name: str) -> dict:
    """Stop session `name`: machine closed, supervisor gone, its directory removed."""
    d = session_dir(name)
    if not d.is_dir():
        raise SessionError(f"no session {name!r} (sessions: {', '.join(names()) or 'none'})")
    info = read_info(name) or {}
    pid = int(info.get("pid", 0))
    how = "stopped"
    if pid and pid_alive(pid):
        try:
            with Session(name, timeout=STOP_TIMEOUT) as s:
                s.stop()
        except SessionError:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if pid_alive(pid):
            _kill(pid)  # its QEMU dies with it (PDEATHSIG)
            how = "killed (did not stop within the deadline)"
    else:
        how = "removed (its supervisor was already gone)"
    remove_session_dir(d)
    return {"name": name, "stopped": how}
