"""Where sessions live: one private 0700 directory per user, a socket and a record per session.

$XDG_RUNTIME_DIR/driverkit-sessions when the runtime dir exists (systemd's per-user tmpfs),
else /dev/shm/driverkit-sessions-UID (or the temp dir). DRIVERKIT_SESSION_DIR overrides it
(tests use their own). No TCP: only the owner can reach the sockets.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path

from ..errors import SessionError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def session_root() -> Path:
    """The private directory holding every session of this user (made 0700 if missing)."""
    env = os.environ.get("DRIVERKIT_SESSION_DIR")
    if env:
        root = Path(env)
    elif os.environ.get("XDG_RUNTIME_DIR") and os.path.isdir(os.environ["XDG_RUNTIME_DIR"]):
        root = Path(os.environ["XDG_RUNTIME_DIR"]) / "driverkit-sessions"
    else:
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
        root = Path(base) / f"driverkit-sessions-{os.getuid()}"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = root.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise SessionError(f"{root} is not a directory owned by uid {os.getuid()}")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(root, 0o700)
    return root


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SessionError(
            f"session name {name!r}: use 1-64 letters, digits, '_', '.', '-' "
            "(starting with a letter or digit)"
        )
    return name


def session_dir(name: str) -> Path:
    """The directory of one session (socket `sock`, record `info.json`, supervisor `log`)."""
    return session_root() / check_name(name)
