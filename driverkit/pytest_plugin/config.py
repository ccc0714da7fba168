"""What a test asked for: its `machine` markers merged into a MachineSpec plus plugin settings."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import pytest

from ..errors import ConfigError
from ..machine.spec import MACHINES, MachineSpec

SPEC_FIELDS = {f.name for f in dataclasses.fields(MachineSpec)}
PLUGIN_FIELDS = {"scope", "timeout", "machines", "guest"}
GUESTS = ("linux",)
#: fields a guest="linux" test cannot set: the project's guest decides them
GUEST_DECIDES = ("kernel", "initrd", "firmware", "shared_ram")
SCOPES = ("function", "module", "session")
SCOPE_RANK = {"function": 0, "class": 1, "module": 2, "package": 3, "session": 4}
ARCH_OF = {m: arch for arch, ms in MACHINES.items() for m in ms}
X86_TYPES = MACHINES["x86_64"]


@dataclass(frozen=True)
class MachineConfig:
    """One test's machine: the spec, how widely it is shared, its deadline, allowed types."""

    spec: MachineSpec
    scope: str = "function"
    timeout: float | None = None
    machines: tuple[str, ...] = ()
    guest: str | None = None  # "linux": booted once, every test forked from its snapshot


def marker_fields(node: pytest.Item | Any) -> dict[str, Any]:
    """Merge every `machine` marker on the node: module, then class, then function wins."""
    fields: dict[str, Any] = {}
    for mark in reversed(list(node.iter_markers("machine"))):
        if mark.args:
            raise ConfigError(f"{node.nodeid}: @pytest.mark.machine takes keyword arguments "
                              f"(MachineSpec fields), got positional {mark.args!r}")
        fields.update(mark.kwargs)
    unknown = set(fields) - SPEC_FIELDS - PLUGIN_FIELDS
    if unknown:
        raise ConfigError(f"{node.nodeid}: unknown @pytest.mark.machine argument(s) "
                          f"{', '.join(sorted(unknown))}; MachineSpec fields are "
                          f"{', '.join(sorted(SPEC_FIELDS - {'extra'}))}, plugin ones "
                          f"{', '.join(sorted(PLUGIN_FIELDS))}")
    return fields


def allowed_types(fields: dict[str, Any]) -> tuple[str, ...]:
    """Machine types a test may run on under --driverkit-machine."""
    if "machines" in fields:
        types = tuple(fields["machines"])
        bad = [t for t in types if t not in ARCH_OF]
        if bad:
            raise ConfigError(f"machines={types!r}: unknown type(s) {bad}; "
                              f"known: {', '.join(ARCH_OF)}")
        return types
    if fields.get("machine"):
        return (fields["machine"],)
    return MACHINES[fields.get("arch", "x86_64")]


def resolve(node: Any, *, machine_type: str | None = None,
            default_timeout: float | None = None) -> MachineConfig:
    """The MachineConfig for a test item (bad markers raise ConfigError with the test's id)."""
    fields = marker_fields(node)
    scope = fields.pop("scope", "function")
    if scope not in SCOPES:
        raise ConfigError(f"{node.nodeid}: machine scope {scope!r} must be one of "
                          f"{', '.join(SCOPES)}")
    timeout = fields.pop("timeout", default_timeout)
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ConfigError(f"{node.nodeid}: machine timeout must be a positive number of "
                          f"seconds, got {timeout!r}")
    machines = allowed_types(fields)
    fields.pop("machines", None)
    guest = fields.pop("guest", None)
    if machine_type is not None:
        fields["machine"] = machine_type
        fields["arch"] = ARCH_OF[machine_type]
    try:
        spec = MachineSpec(**fields) if guest is None else _guest_spec(node, guest, scope, fields)
    except ConfigError as exc:
        raise ConfigError(f"{node.nodeid}: @pytest.mark.machine: {exc}") from None
    return MachineConfig(spec, scope, float(timeout) if timeout else None, machines, guest)


def _guest_spec(node: Any, guest: object, scope: str, fields: dict[str, Any]) -> MachineSpec:
    """guest="linux": the project's Linux guest (linux_guest_spec) with the marker's fields;
    `append` adds to the kernel command line."""
    if guest not in GUESTS:
        raise ConfigError(f"guest={guest!r}: known guests are {', '.join(map(repr, GUESTS))}")
    if scope != "function":
        raise ConfigError(f"guest={guest!r} tests each start from the guest's snapshot (fresh "
                          f"and fast); scope={scope!r} does not apply to them")
    decided = sorted(set(fields) & set(GUEST_DECIDES))
    if decided:
        raise ConfigError(f"guest={guest!r} decides {', '.join(decided)} itself")
    from ..guest.linux import linux_guest_spec

    fields = dict(fields)
    return linux_guest_spec(fields.pop("append", None) or "", fields.pop("machine", None),
                            fields.pop("memory", "256M"), arch=fields.pop("arch", "x86_64"),
                            **fields)


def parse_types(text: str | None) -> list[str]:
    """--driverkit-machine q35,pc,virt -> ["q35", "pc", "virt"], refusing unknown types."""
    if not text:
        return []
    types = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in types if t not in ARCH_OF]
    if bad:
        raise pytest.UsageError(f"--driverkit-machine: unknown machine type(s) {', '.join(bad)}; "
                                f"known: {', '.join(ARCH_OF)}")
    return types


def safe_name(nodeid: str) -> str:
    """A file name for a test id (unique per id, readable)."""
    name = re.sub(r"[^A-Za-z0-9_.\-\[\]]+", "_", nodeid.replace("::", "__"))
    return name[-180:]
