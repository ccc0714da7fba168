"""The guest kernel's build configuration (a /boot/config-* file, or a dict).

Only a handful of options change the allocator model: CMA and its default size, the
page-order limit, SLUB/SLAB, ZONE_DMA/DMA32, STRICT_DEVMEM/IO_STRICT_DEVMEM, KEXEC_CORE.
When no config is given the model uses the Debian 12 `linux-image-6.1.0-*-cloud-amd64`
values below (read from its /boot/config-6.1.0-56-cloud-amd64).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Mapping

from ..errors import MemModelError

#: The options the model reads, as set in Debian's 6.1.0-56-cloud-amd64 config.
DEBIAN_6_1_CLOUD_AMD64: dict[str, str] = {
    "CONFIG_X86_64": "y",
    "CONFIG_ZONE_DMA": "y",
    "CONFIG_ZONE_DMA32": "y",
    "CONFIG_SLUB": "y",
    "CONFIG_STRICT_DEVMEM": "y",
    "CONFIG_IO_STRICT_DEVMEM": "y",
    "CONFIG_KEXEC_CORE": "y",
    "CONFIG_CRASH_DUMP": "y",
    "CONFIG_RANDOMIZE_BASE": "y",
    "CONFIG_PHYSICAL_START": "0x1000000",
    "CONFIG_PHYSICAL_ALIGN": "0x200000",
    "CONFIG_SWIOTLB": "y",
    "CONFIG_DEFERRED_STRUCT_PAGE_INIT": "y",
    "CONFIG_MEMORY_HOTPLUG": "y",
    "CONFIG_LOG_BUF_SHIFT": "17",
}
DEBIAN_6_1_VERSION = (6, 1, 192)

_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")
_VERSION = re.compile(r"Linux/\S+ (\d+)\.(\d+)(?:\.(\d+))?")


@dataclass
class KernelConfig:
    """Kconfig symbols (with the CONFIG_ prefix) and the kernel version they belong to."""

    options: dict[str, str] = field(default_factory=dict)
    version: tuple[int, int, int] = DEBIAN_6_1_VERSION

    @classmethod
    def debian_cloud(cls) -> "KernelConfig":
        return cls(dict(DEBIAN_6_1_CLOUD_AMD64), DEBIAN_6_1_VERSION)

    @classmethod
    def load(
        cls, source: "str | os.PathLike[str] | Mapping[str, object] | KernelConfig | None"
    ) -> "KernelConfig":
        """From a path to a config file, a dict ({"CMA": True} or {"CONFIG_CMA": "y"}), or None."""
        if source is None:
            return cls.debian_cloud()
        if isinstance(source, KernelConfig):
            return source
        if isinstance(source, Mapping):
            opts: dict[str, str] = {}
            version = DEBIAN_6_1_VERSION
            for k, v in source.items():
                if k == "version":
                    version = _as_version(v)
                    continue
                key = k if k.startswith("CONFIG_") else "CONFIG_" + k
                if v is True:
                    opts[key] = "y"
                elif v is False or v is None or v == "n":
                    continue
                else:
                    opts[key] = str(v)
            return cls(opts, version)
        path = os.fspath(source)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as exc:
            raise MemModelError(f"kernel config {path}: {exc.strerror}") from None
        return cls.parse(text, name=path)

    @classmethod
    def parse(cls, text: str, name: str = "config") -> "KernelConfig":
        opts: dict[str, str] = {}
        version = DEBIAN_6_1_VERSION
        seen = False
        for line in text.splitlines():
            line = line.strip()
            m = _LINE.match(line)
            if m:
                seen = True
                opts[m.group(1)] = m.group(2).strip('"')
                continue
            if _UNSET.match(line):
                seen = True
                continue
            v = _VERSION.search(line)
            if v and line.startswith("#"):
                version = (int(v.group(1)), int(v.group(2)), int(v.group(3) or 0))
        if not seen:
            raise MemModelError(f"{name}: no CONFIG_ lines; not a kernel config file")
        return cls(opts, version)

    def enabled(self, name: str) -> bool:
        key = name if name.startswith("CONFIG_") else "CONFIG_" + name
        return self.options.get(key) in ("y", "m")

    def value(self, name: str, default: str | None = None) -> str | None:
        key = name if name.startswith("CONFIG_") else "CONFIG_" + name
        return self.options.get(key, default)

    def int_value(self, name: str, default: int) -> int:
        v = self.value(name)
        if v is None or v == "":
            return default
        try:
            return int(v, 0)
        except ValueError:
            raise MemModelError(
                f"CONFIG_{name.removeprefix('CONFIG_')}={v!r} is not a number"
            ) from None


def _as_version(v: object) -> tuple[int, int, int]:
    if isinstance(v, tuple):
        parts = [int(x) for x in v] + [0, 0, 0]
        return (parts[0], parts[1], parts[2])
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", str(v))
    if not m:
        raise MemModelError(f"kernel version {v!r}: expected like '6.1' or '6.12.5'")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
