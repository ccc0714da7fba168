"""MachineSpec: a declarative description of one QEMU machine, validated up front."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, fields, replace
from os import PathLike, fspath
from pathlib import Path

from ..errors import ConfigError
from ..units import parse_size

ARCHES = ("x86_64", "aarch64", "arm")
#: boards the framework knows in depth; on "arm" any board the installed QEMU offers is allowed
MACHINES = {"x86_64": ("q35", "pc"), "aarch64": ("virt",)}
DEFAULT_MACHINE = {"x86_64": "q35", "aarch64": "virt", "arm": "mps2-an385"}
CLOCKS = ("realtime", "stepped")
MAX_CLOCK_SHIFT = 10  # QEMU's icount accepts shift 0..10
ACCELS = ("tcg", "kvm", "auto")  # auto: KVM if a real probe runs a guest on it, else TCG
#: "bare": a parking ROM; "seabios": QEMU's x86 default BIOS; "direct": no firmware at all,
#: QEMU loads -kernel/-initrd (and a -dtb) itself and enters the kernel (arm virt's boot stub)
FIRMWARES = ("bare", "seabios", "direct")


def _strings(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"{name} must be a list of strings, got {type(value).__name__} "
                          f"{value!r}")
    bad = [v for v in value if not isinstance(v, str)]
    if bad:
        raise ConfigError(f"{name} must hold strings only; {bad[0]!r} is a {type(bad[0]).__name__}")
    return tuple(value)


def _check_types(spec: "MachineSpec") -> None:
    """Wrong types are ConfigErrors here, not TypeErrors (or silent acceptance) later."""
    for name in ("arch", "accel", "firmware", "machine", "kernel", "initrd", "append", "cpu"):
        value = getattr(spec, name)
        if isinstance(value, PathLike) and name in ("firmware", "kernel", "initrd"):
            value = fspath(value)
            object.__setattr__(spec, name, value)
        if not (isinstance(value, str) or (value is None and name not in
                                           ("arch", "accel", "firmware"))):
            raise ConfigError(f"{name} must be a string, got {type(value).__name__} {value!r}")
    if isinstance(spec.memory, bool) or not isinstance(spec.memory, (int, str, type(None))):
        raise ConfigError(f"memory must be bytes (int) or a size like '256M', got "
                          f"{type(spec.memory).__name__} {spec.memory!r}")
    if isinstance(spec.clock, bool) or not isinstance(spec.clock, str):
        raise ConfigError(f"clock must be a string, got {type(spec.clock).__name__} "
                          f"{spec.clock!r}")
    if not isinstance(spec.shared_ram, bool):
        raise ConfigError(f"shared_ram must be True or False, got {spec.shared_ram!r}")
    if isinstance(spec.startup_timeout, bool) or not isinstance(spec.startup_timeout,
                                                                (int, float)):
        raise ConfigError(f"startup_timeout must be seconds (a number), got "
                          f"{spec.startup_timeout!r}")
    if isinstance(spec.devices, str):
        raise ConfigError("devices must be a list of -device strings, not one string")
    object.__setattr__(spec, "devices", _strings("devices", spec.devices))
    extra_args = spec.extra_args
    if isinstance(extra_args, str):  # one string is split as a shell would: "-S -d int"
        extra_args = shlex.split(extra_args)
    object.__setattr__(spec, "extra_args", _strings("extra_args", extra_args))
    if not isinstance(spec.extra, dict):
        raise ConfigError(f"extra must be a dict, got {type(spec.extra).__name__}")


@dataclass(frozen=True)
class MachineSpec:
    """What to launch. Defaults: x86_64 q35, 256 MiB, bare firmware, TCG.

    Types are checked first (ConfigError): strings where strings go, bool for
    shared_ram, lists of strings for devices and extra_args. extra_args given as one
    string is split as a shell would ("-S -d int" -> ["-S", "-d", "int"]).
    """

    arch: str = "x86_64"
    machine: str | None = None
    memory: int | str | None = None  # None: 256M, or the board's own size on "arm"
    accel: str = "tcg"
    firmware: str = "bare"
    devices: tuple[str, ...] | list[str] = ()
    kernel: str | None = None
    initrd: str | None = None
    append: str | None = None
    shared_ram: bool = True
    extra_args: tuple[str, ...] | list[str] = ()
    cpu: str | None = None
    clock: str = "realtime"
    clock_shift: int = 0  # stepped clock: one guest instruction is 2**clock_shift ns
    startup_timeout: float = 10.0
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        _check_types(self)
        if self.arch not in ARCHES:
            raise ConfigError(f"arch {self.arch!r} not supported; choose one of {', '.join(ARCHES)}")
        machine = self.machine or DEFAULT_MACHINE[self.arch]
        if self.arch == "arm":
            from .boards import check_machine

            check_machine(self.arch, machine)
        elif machine not in MACHINES[self.arch]:
            raise ConfigError(
                f"machine {machine!r} not supported on {self.arch}; "
                f"choose one of {', '.join(MACHINES[self.arch])}"
            )
        object.__setattr__(self, "machine", machine)
        if self.arch == "arm" and self.memory in (None, 0):
            object.__setattr__(self, "memory", 0)  # the board decides
            object.__setattr__(self, "shared_ram", False)
        else:
            size = parse_size("256M" if self.memory is None else self.memory, "memory")
            if size < (16 << 20) or size % (1 << 20):
                raise ConfigError(f"memory must be a whole number of MiB >= 16M, got {size} bytes")
            object.__setattr__(self, "memory", size)
        if self.arch == "arm" and self.shared_ram:
            object.__setattr__(self, "shared_ram", False)  # board RAM is not one backend
        self._check_clock()
        if self.accel not in ACCELS:
            raise ConfigError(f"accel {self.accel!r} not supported; choose one of {', '.join(ACCELS)}")
        if self.firmware not in FIRMWARES and not Path(self.firmware).is_file():
            raise ConfigError(
                f"firmware {self.firmware!r} is neither 'bare', 'seabios', 'direct' nor an "
                f"existing file"
            )
        if self.arch == "aarch64" and self.firmware == "seabios":
            raise ConfigError("firmware 'seabios' exists only on x86_64")
        if self.firmware == "direct" and (self.arch == "x86_64" or self.kernel is None):
            raise ConfigError("firmware 'direct' (QEMU enters -kernel itself) is for an arm "
                              "machine with a kernel; x86 boots a kernel through 'seabios'")
        for name in ("kernel", "initrd"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{name} {path!r} does not exist")
        if self.append is not None and self.kernel is None:
            raise ConfigError("append (a kernel command line) needs a kernel")
        if self.startup_timeout <= 0:
            raise ConfigError(f"startup_timeout must be > 0, got {self.startup_timeout}")

    def _check_clock(self) -> None:
        if self.clock not in CLOCKS:
            raise ConfigError(f"clock {self.clock!r} not supported; choose one of {', '.join(CLOCKS)}")
        if isinstance(self.clock_shift, bool) or not isinstance(self.clock_shift, int) \
                or not 0 <= self.clock_shift <= MAX_CLOCK_SHIFT:
            raise ConfigError(f"clock_shift must be an int 0..{MAX_CLOCK_SHIFT}, "
                              f"got {self.clock_shift!r}")
        if self.clock != "stepped":
            return
        if self.accel != "tcg":
            raise ConfigError(f"clock='stepped' needs accel='tcg' (icount), not {self.accel!r}")
        if self.firmware != "bare":
            raise ConfigError("clock='stepped' runs its own stepping firmware: firmware must be "
                              f"'bare', not {self.firmware!r}")

    @property
    def memory_bytes(self) -> int:
        """The RAM size in bytes (memory is normalised to int at construction)."""
        return int(self.memory)

    def to_dict(self) -> dict:
        """Every field as plain JSON-able data (`extra` aside): MachineSpec(**d) is the same
        spec again (session spec files, trace headers)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def with_(self, **changes: object) -> "MachineSpec":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)  # type: ignore[arg-type]
