"""Accesses QEMU silently drops: a peek/poke/dump whose width the device refuses is reported
(QEMU's guest_errors log, see driverkit.transport.guest_errors), not printed as a value."""

from __future__ import annotations

import argparse

from ..errors import InvalidWidth


def add_width_policy(p: argparse.ArgumentParser) -> None:
    p.add_argument("--invalid-width", choices=["warn", "error"], default="warn",
                   help="when QEMU rejects the access (a width the device does not take, "
                   "nothing there): warn and flag the value (default) or fail (exit 2)")


def flush(m) -> None:
    """Forget rejections logged before this command (a session's earlier commands)."""
    if getattr(m, "guest_errors", None) is not None:
        m.guest_errors.take()


def rejections(m, args: argparse.Namespace, what: str) -> list[str]:
    """Warnings for accesses QEMU rejected since flush(); InvalidWidth under --invalid-width error."""
    log = getattr(m, "guest_errors", None)
    found = log.take() if log is not None else []
    if not found:
        return []
    msgs = [str(r) for r in found[:8]]
    if len(found) > 8:
        msgs.append(f"... and {len(found) - 8} more")
    head = f"{what}: QEMU did not perform the access, the value is not the device's"
    if getattr(args, "invalid_width", "warn") == "error":
        raise InvalidWidth(head + ": " + "; ".join(msgs))
    return [head] + msgs
