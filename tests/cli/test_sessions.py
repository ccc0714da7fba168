"""Sessions: a machine that outlives the command, its state, its errors, and nothing left behind."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from driverkit.errors import InvalidWidth
from driverkit.session import Session


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_state_persists_across_commands_and_stop_leaves_nothing(cli):
    st = cli.json("start", "--name", "b1", "--memory", "128M")
    assert st["state"] == "running" and st["spec"]["memory"] == 128 << 20
    sdir = cli.session_dir / "b1"
    assert oct(cli.session_dir.stat().st_mode & 0o777) == "0o700"
    assert oct((sdir / "sock").stat().st_mode & 0o777) == "0o600"
    assert cli("poke", "0x2000", "0xbeef", "--session", "b1").returncode == 0
    r = cli("peek", "0x2000", DRIVERKIT_SESSION="b1")
    assert r.returncode == 0 and r.stdout == "0x0000BEEF\n", r.stderr
    rows = cli.json("sessions")["sessions"]
    assert [(x["name"], x["state"]) for x in rows] == [("b1", "running")]
    qemu_pid, sup_pid = st["qemu_pid"], st["pid"]
    assert _alive(qemu_pid) and _alive(sup_pid)
    out = cli.json("stop", "b1")
    assert out["stopped"] == "stopped"
    assert not sdir.exists() and not _alive(qemu_pid) and not _alive(sup_pid)
    assert not any(p.name.startswith(f"driverkit-{sup_pid}-") for p in Path("/dev/shm").iterdir())


def test_name_in_use_unknown_and_dead_sessions_are_clear_errors(cli):
    cli.json("start", "--name", "b2")
    err = cli.json("start", "--name", "b2", rc=2)
    assert err["type"] == "SessionError" and "already exists" in err["error"]
    err = cli.json("peek", "0x2000", "--session", "nosuch", rc=2)
    assert "no session 'nosuch'" in err["error"] and "b2" in err["error"]
    err = cli.json("peek", "0x2000", "--session", "b2", "--memory", "1G", rc=2)
    assert "--memory cannot change session 'b2'" in err["error"]
    err = cli.json("start", "--name", "bad/name", rc=2)
    assert "session name" in err["error"]
    qemu_pid = json.loads((cli.session_dir / "b2" / "info.json").read_text())["qemu_pid"]
    os.kill(qemu_pid, 9)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = cli.json("sessions")["sessions"]
        if rows[0]["state"] == "died":
            break
        time.sleep(0.1)
    assert rows[0]["state"] == "died" and "QEMU died" in rows[0]["detail"]
    r = cli("peek", "0x2000", "--session", "b2")
    assert r.returncode == 2 and "QEMU died" in r.stderr and "driverkit stop b2" in r.stderr
    assert cli.json("stop", "b2")["stopped"] == "stopped"
    assert not (cli.session_dir / "b2").exists()
    err = cli.json("stop", "b2", rc=2)
    assert "no session 'b2'" in err["error"]


def test_killed_supervisor_is_stale_and_stop_cleans_up(cli):
    st = cli.json("start", "--name", "b3")
    os.kill(st["pid"], 9)
    deadline = time.monotonic() + 10
    while (_alive(st["pid"]) or _alive(st["qemu_pid"])) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(st["qemu_pid"])  # QEMU dies with its supervisor
    rows = cli.json("sessions")["sessions"]
    assert rows[0]["state"] == "stale"
    err = cli.json("peek", "0", "--session", "b3", rc=2)
    assert "supervisor is gone" in err["error"]
    assert "already gone" in cli.json("stop", "b3")["stopped"]
    assert not (cli.session_dir / "b3").exists()


def test_python_attaches_to_a_session(cli, monkeypatch):
    cli.json("start", "--name", "py", "--device", "edu")
    monkeypatch.setenv("DRIVERKIT_SESSION_DIR", str(cli.session_dir))
    with Session.attach("py") as s:
        assert s.readl(0xFED00000) == 0x8086A201  # HPET capabilities, low word
        with pytest.raises(InvalidWidth, match="16-bit read at 0xfed00000: QEMU did not") as exc:
            s.readw(0xFED00000)  # a width HPET refuses: the session's machine checks it too
        assert exc.value.rejected == ()  # QEMU's lines stay in the supervisor; the text says
        s.writew(0x3000, 0x1234)
        assert s.read_bytes(0x3000, 2) == b"\x34\x12"
        s.outb(0x70, 0x40)  # CMOS RAM byte 0x40 (index 0x70, data 0x71): plain storage
        s.outb(0x71, 0x5A)
        assert cli("outb", "0x70", "0x40", "--session", "py").returncode == 0
        assert cli("inb", "0x71", "--session", "py").stdout == "0x5A\n"
        edu = [d for d in s.run(["lspci", "-n"]).text.splitlines() if "1234:11e8" in d]
        bdf = edu[0].split()[0]
        assert s.config_read(bdf, 0, 4) == 0x11E81234
    # the CLI sees what Python wrote
    assert cli("peek", "0x3000", "h", "--session", "py").stdout == "0x1234\n"


def test_a_session_started_from_python_gets_the_whole_spec(cli, monkeypatch):
    """Every MachineSpec field reaches the supervisor's machine, not only the ones the CLI sets."""
    from driverkit import MachineSpec
    from driverkit.session import start, stop

    monkeypatch.setenv("DRIVERKIT_SESSION_DIR", str(cli.session_dir))
    st = start("full", MachineSpec(shared_ram=False, extra_args=["-name", "dk-full-spec"]))
    try:
        argv = Path(f"/proc/{st['qemu_pid']}/cmdline").read_bytes().split(b"\0")
        assert b"dk-full-spec" in argv
        assert not any(b"memory-backend-file" in a for a in argv)  # shared_ram=False held
    finally:
        stop("full")


def test_the_per_user_root_goes_with_the_last_session(cli):
    """Without DRIVERKIT_SESSION_DIR the root is the user's (here under XDG_RUNTIME_DIR): made
    by the first start, gone after the last stop, and never made by a mere listing."""
    # short, like /run/user/UID: a unix socket path must fit in 108 bytes
    runtime = Path(tempfile.mkdtemp(prefix="dk-run-", dir="/tmp"))
    env = {k: v for k, v in cli.env.items() if k != "DRIVERKIT_SESSION_DIR"}
    env["XDG_RUNTIME_DIR"] = str(runtime)
    root = runtime / "driverkit-sessions"
    user = type(cli)(root)
    user.env = env
    try:
        assert user.json("sessions")["sessions"] == [] and not root.exists()
        user.json("start", "--name", "r1", "--memory", "64M")
        user.json("start", "--name", "r2", "--memory", "64M")
        assert sorted(p.name for p in root.iterdir()) == ["r1", "r2"]
        assert oct(root.stat().st_mode & 0o777) == "0o700"
        user.json("stop", "r1")
        assert [p.name for p in root.iterdir()] == ["r2"]  # the root stays for r2
        user.json("stop", "r2")
        assert not root.exists(), list(root.iterdir())
    finally:
        for name in ("r1", "r2"):
            if (root / name).exists():
                user("stop", name, timeout=30)
        shutil.rmtree(runtime, ignore_errors=True)


def test_a_socket_path_too_long_for_unix_is_refused_with_its_length(cli, tmp_path):
    deep = tmp_path / ("d" * 100)
    r = cli("start", "--name", "long", "--json", DRIVERKIT_SESSION_DIR=str(deep))
    err = json.loads(r.stdout)
    assert r.returncode == 2 and err["type"] == "SessionError", r
    assert "bytes; unix sockets take at most 107" in err["error"] and not deep.exists()
