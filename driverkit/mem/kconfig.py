"""The guest kernel's build configuration (a /boot/config-* file, or a dict).

Only a handful of options change the allocator model: CMA and its default size, the
page-order limit, SLUB/SLAB, ZONE_DMA/DMA32, STRICT_DEVMEM/IO_STRICT_DEVMEM, KEXEC_CORE.
When no config is given the model uses the config of the bundled kernel description
(driverkit.mem.kernel.bundled_kernel).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Mapping

from ..errors import MemModelError

#: The options the model (and the kernel description) reads; a bundled description keeps
#: these of its build's config.
MODEL_OPTIONS = frozenset({
    "X86_64", "ZONE_DMA", "ZONE_DMA32", "SLUB", "SLAB", "SLOB", "STRICT_DEVMEM",
    "IO_STRICT_DEVMEM", "KEXEC_CORE", "CRASH_DUMP", "CRASH_RESERVE", "RANDOMIZE_BASE",
    "RANDOMIZE_MEMORY", "PHYSICAL_START", "PHYSICAL_ALIGN", "SWIOTLB", "DEFERRED_STRUCT_PAGE_INIT",
    "MEMORY_HOTPLUG", "LOG_BUF_SHIFT", "CMA", "DMA_CMA", "CMA_SIZE_MBYTES", "ARCH_FORCE_MAX_ORDER",
    "FORCE_MAX_ZONEORDER", "AMD_MEM_ENCRYPT", "KERNEL_LZ4", "KERNEL_XZ", "KERNEL_ZSTD",
    "KERNEL_GZIP", "KERNEL_BZIP2", "KERNEL_LZMA", "KERNEL_LZO",
})

_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")
_VERSION = re.compile(r"Linux/(\S+) (\d+)\.(\d+)(?:\.(\d+))?")


@dataclass
class KernelConfig:
    """Kconfig symbols (with the CONFIG_ prefix) and the kernel version they belong to."""

    options: dict[str, str] = field(default_factory=dict)
    version: tuple[int, int, int] = (0, 0, 0)
    #: the arch of the config header ("x86" in "# Linux/x86 6.1.192 Kernel Configuration")
    arch: str = ""

    @classmethod
    def default(cls) -> "KernelConfig":
        """The bundled kernel description's config."""
        from .kernel import bundled_kernel

        return bundled_kernel().config


    @classmethod
    def load(
        cls, source: "str | os.PathLike[str] | Mapping[str, object] | KernelConfig | None"
    ) -> "KernelConfig":
        """From a path to a config file, a dict ({"CMA": True} or {"CONFIG_CMA": "y"}), or None."""
        if source is None:
            return cls.default()
        if isinstance(source, KernelConfig):
            return source
        if isinstance(source, Mapping):
            opts: dict[str, str] = {}
            version = cls.default().version
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
        version = (0, 0, 0)  # a config without its "# Linux/ARCH VERSION" header line
        arch = ""
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
            if v and line.startswith("#") and not arch:
                arch = v.group(1)
                version = (int(v.group(2)), int(v.group(3)), int(v.group(4) or 0))
        if not seen:
            raise MemModelError(f"{name}: no CONFIG_ lines; not a kernel config file")
        return cls(opts, version, arch)

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
