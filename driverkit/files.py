"""Reading input files with a bound: a device node (/dev/zero), a FIFO or a huge file given by
mistake fails at once with the size, instead of being read until memory runs out."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import ConfigError, DriverkitError


def read_bounded(path: str | Path, limit: int, what: str,
                 error: type[DriverkitError] = ConfigError, *, regular: bool = False) -> bytes:
    """The whole of `path`, at most `limit` bytes; `regular=True` refuses anything but a file."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            st = os.fstat(f.fileno())
            if regular and not stat.S_ISREG(st.st_mode):
                raise error(f"{what} {p}: not a regular file")
            if stat.S_ISREG(st.st_mode) and st.st_size > limit:
                raise error(f"{what} {p}: {st.st_size} bytes, more than the {limit} this reads")
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise error(f"{what} {p}: no such file") from None
    except IsADirectoryError:
        raise error(f"{what} {p}: is a directory") from None
    except OSError as exc:
        raise error(f"{what} {p}: cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise error(f"{what} {p}: more than the {limit} bytes this reads")
    return data
