"""The `cli` fixture (imported by the conftests that use it): run `driverkit` as a user does
(the console script in a subprocess), with sessions kept in a private per-test directory;
every session a test started is stopped at teardown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


class Cli:
    def __init__(self, session_dir: Path) -> None:
        self.exe = str(Path(sys.executable).with_name("driverkit"))
        self.env = {**os.environ, "DRIVERKIT_SESSION_DIR": str(session_dir)}
        self.env.pop("DRIVERKIT_SESSION", None)
        self.session_dir = session_dir

    def __call__(self, *args: str, timeout: float = 90, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.exe, *args], capture_output=True, text=True,
                              timeout=timeout, env={**self.env, **env})

    def json(self, *args: str, rc: int = 0, **env: str) -> dict:
        r = self(*args, "--json", **env)
        assert r.returncode == rc, (r.returncode, r.stdout, r.stderr)
        return json.loads(r.stdout)

    def supervisors(self) -> list[int]:
        pids = []
        for info in self.session_dir.glob("*/info.json"):
            try:
                pids.append(int(json.loads(info.read_text())["pid"]))
            except (OSError, ValueError, KeyError):
                pass
        return pids


@pytest.fixture
def cli(tmp_path: Path):
    d = tmp_path / "sessions"
    c = Cli(d)
    yield c
    if d.is_dir():
        for name in [p.name for p in d.iterdir() if p.is_dir()]:
            c("stop", name, timeout=30)
        for pid in c.supervisors():  # only if stop itself failed
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
