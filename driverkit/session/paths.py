"""Where sessions live: one private 0700 directory per user, a socket and a record per session.

$XDG_RUNTIME_DIR/driverkit-sessions when the runtime dir exists (systemd's per-user tmpfs),
else /dev/shm/driverkit-sessions-UID (or the temp dir). DRIVERKIT_SESSION_DIR overrides it
(tests use their own). No TCP: only the owner can reach the sockets.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

from ..errors import SessionError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def session_root(create: bool = False) -> Path:
    """The private directory holding every session of this user; made 0700 only when a session
    is created (`create`), so looking for sessions leaves nothing behind."""
    env = os.environ.get("DRIVERKIT_SESSION_DIR")
    if env:
        root = Path(env)
    elif os.environ.get("XDG_RUNTIME_DIR") and os.path.isdir(os.environ["XDG_RUNTIME_DIR"]):
        root = Path(os.environ["XDG_RUNTIME_DIR"]) / "driverkit-sessions"
    else:
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
        root = Path(base) / f"driverkit-sessions-{os.getuid()}"
    if create:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        st = root.lstat()
    except FileNotFoundError:
        return root
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


SUN_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes with its NUL


def check_socket_path(d: Path) -> None:
    """A session's socket path must fit in sockaddr_un: say so before anything starts."""
    sock = os.fsencode(d / "sock")
    if len(sock) > SUN_PATH_MAX:
        raise SessionError(f"session socket path {os.fsdecode(sock)!r} is {len(sock)} bytes; "
                           f"unix sockets take at most {SUN_PATH_MAX}: use a shorter "
                           "DRIVERKIT_SESSION_DIR or session name")


def claim_session_dir(name: str) -> Path:
    """Create the directory of a new session (FileExistsError if the name is taken).

    A last session's removal may take the empty root away between session_root() and the
    mkdir; the claim then makes the root again, once."""
    check_socket_path(session_dir(name))
    for _ in range(2):
        d = session_root(create=True) / check_name(name)
        try:
            d.mkdir(mode=0o700)
            return d
        except FileNotFoundError:
            continue
    d.mkdir(mode=0o700)
    return d


def remove_session_dir(d: Path) -> None:
    """Remove one session's directory, and the per-user root when it was the last one (an
    empty driverkit-sessions dir left in /dev/shm is litter). A root named by
    DRIVERKIT_SESSION_DIR belongs to whoever named it and stays."""
    shutil.rmtree(d, ignore_errors=True)
    if not os.environ.get("DRIVERKIT_SESSION_DIR"):
        try:
            os.rmdir(d.parent)  # fails, as it should, while other sessions live there
        except OSError:
            pass
