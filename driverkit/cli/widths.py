"""Accesses QEMU silently drops: a peek/poke/dump whose width the device refuses is reported
(QEMU's guest_errors log, see driverkit.transport.guest_errors), not printed as a value."""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from typing import Iterator

from ..errors import InvalidWidth


def add_width_policy(p: argparse.ArgumentParser) -> None:
    p.add_argument("--invalid-width", choices=["warn", "error"], default="error",
                   help="when QEMU rejects the access (a width the device does not take, "
                   "nothing there): fail with InvalidWidth, exit 2 (default: the value would "
                   "not be the device's), or warn and print the value flagged")


@contextmanager
def reported(m) -> Iterator[None]:
    """The command reports what QEMU refused itself (rejections(), --invalid-width), so the
    machine's own check (Machine.check_accesses, which raises on the read) is off while it
    runs and set back after; rejections logged before it (a session's earlier commands)
    are forgotten."""
    policy = getattr(m, "access_policy", None)
    if policy is not None:
        m.check_accesses(None)
    if getattr(m, "guest_errors", None) is not None:
        m.guest_errors.take()
    try:
        yield
    finally:
        if policy is not None and getattr(m, "alive", False):
            m.check_accesses(policy)


def rejections(m, args: argparse.Namespace, what: str) -> list[str]:
    """Warnings for accesses QEMU rejected since reported() began; InvalidWidth under --invalid-width error."""
    log = getattr(m, "guest_errors", None)
    found = log.take() if log is not None else []
    if not found:
        return []
    msgs = [str(r) for r in found[:8]]
    if len(found) > 8:
        msgs.append(f"... and {len(found) - 8} more")
    head = f"{what}: QEMU did not perform the access, the value is not the device's"
    if getattr(args, "invalid_width", "error") == "error":
        raise InvalidWidth(head + ": " + "; ".join(msgs))
    return [head] + msgs
