"""Sessions: a machine that outlives one command, owned by a small supervisor process and
reached over a private unix socket. `driverkit start/sessions/stop` manage them; every
machine command takes `--session NAME`; Python attaches with `Session.attach(NAME)`."""

from .client import Session
from .manage import list_sessions, start, stop

__all__ = ["Session", "list_sessions", "start", "stop"]
