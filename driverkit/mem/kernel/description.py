"""KernelDescription: one kernel build as the allocator model needs it, read from the build.

`read_kernel(VMLINUZ)` reads the image with the reader of its architecture (x86: x86.py;
another arch plugs in with `register_reader`) and adds the build's config (config-RELEASE
beside the image, Debian's /boot layout, or the guest cache's `config`). `bundled_kernel()`
is the default when no kernel is named: a description of one named build shipped as data,
written by the same reader (`python -m driverkit.mem.kernel VMLINUZ > data/RELEASE.json`).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ...errors import (
    KernelArchMismatch,
    KernelConfigMismatch,
    KernelImageError,
    NotAKernelImage,
)
from ..kconfig import MODEL_OPTIONS, KernelConfig
from .facts import ImageFacts
from .layout import ImageLayout
from .versions import VersionRules, rules_for

PAGE = 4096
PMD = 2 << 20
DATA = Path(__file__).parent / "data"
#: the build described by the bundled data file (the one tests/mem/data was measured on)
BUNDLED_RELEASE = "6.1.0-56-cloud-amd64"
#: config header arch ("# Linux/x86 6.1.192 Kernel Configuration") per model arch
CONFIG_ARCH = {"x86_64": "x86", "arm64": "arm64"}

PathLike = str | os.PathLike[str]


class KernelReader(Protocol):
    """Reads the kernel images of one architecture."""

    arch: str

    def recognizes(self, head: bytes) -> bool: ...

    def read(self, path: Path, data: bytes) -> ImageFacts: ...


_READERS: dict[str, KernelReader] = {}


def register_reader(reader: KernelReader) -> None:
    """Make read_kernel() read this architecture's images."""
    _READERS[reader.arch] = reader


def identify_arch(head: bytes) -> str | None:
    """The architecture a kernel image is for, from its first bytes (None: not a kernel)."""
    for reader in _READERS.values():
        if reader.recognizes(head):
            return reader.arch
    return None


@dataclass(frozen=True)
class KernelDescription:
    """A kernel build: what its image says (ImageFacts), its config, and where it came from."""

    image: ImageFacts
    config: KernelConfig
    source: str

    arch = property(lambda self: self.image.arch)
    release = property(lambda self: self.image.release)
    version = property(lambda self: self.image.version)
    compression = property(lambda self: self.image.compression)
    layout = property(lambda self: self.image.layout)
    sizes = property(lambda self: self.image.sizes)

    @property
    def rules(self) -> VersionRules:
        return rules_for(self.version)

    @property
    def node_data_size(self) -> int:
        """alloc_node_data(): roundup(sizeof(pg_data_t), PAGE_SIZE)."""
        if "pglist_data" not in self.sizes:
            raise KernelImageError(
                f"{self.source}: the image has no BTF size of struct pglist_data; the model "
                "needs it for NODE_DATA(0)"
            )
        return -(-self.sizes["pglist_data"] // PAGE) * PAGE

    @property
    def freed(self) -> dict[str, tuple[int, int]]:
        """What the booted kernel gives back to the page allocator, offsets from _text."""
        out = dict(self.layout.freed)
        if self.config.enabled("AMD_MEM_ENCRYPT"):  # mem_encrypt_free_decrypted_mem()
            end = self.layout.reserve_end
            out["unused decrypted memory"] = (end - PMD + self.rules.decrypted_used, end)
        return out

    @property
    def reservations(self) -> list[tuple[str, int, int]]:
        """(name, start, size) memblock reservations of the image, offsets from _text."""
        out = [("kernel image", 0, self.layout.reserve_end)]
        brk0, brk1 = self.layout.brk
        used = min(self.rules.brk_used, brk1 - brk0)
        if used:
            out.append(("brk", brk0, used))
        return out

    def summary(self) -> str:
        return f"Linux {self.release} ({'.'.join(map(str, self.version))}, {self.source})"

    def to_dict(self) -> dict:
        """Everything the model reads (the config limited to the options it uses)."""
        return {
            "arch": self.arch,
            "release": self.release,
            "version": ".".join(map(str, self.version)),
            "compression": self.compression,
            "banner": self.image.banner,
            "layout": self.layout.to_dict(),
            "sizes": dict(self.sizes),
            "config": {k: v for k, v in sorted(self.config.options.items())
                       if k.removeprefix("CONFIG_") in MODEL_OPTIONS},
            "config_header": {"arch": self.config.arch,
                              "version": ".".join(map(str, self.config.version))},
        }

    @classmethod
    def from_dict(cls, d: dict, source: str) -> "KernelDescription":
        version = tuple(int(x) for x in d["version"].split("."))
        cfg = KernelConfig(dict(d["config"]), version,  # type: ignore[arg-type]
                           arch=d.get("config_header", {}).get("arch", ""))
        image = ImageFacts(d["arch"], d["release"], version,  # type: ignore[arg-type]
                           d.get("banner", ""), d["compression"],
                           ImageLayout.from_dict(d["layout"]), dict(d["sizes"]))
        return cls(image, cfg, source)


def _check_config(path: Path, facts: ImageFacts, cfg: KernelConfig, cfg_name: str) -> None:
    """A config of another build than the image: refuse it, naming both."""
    want_arch = CONFIG_ARCH.get(facts.arch, facts.arch)
    if cfg.arch and cfg.arch != want_arch:
        raise KernelConfigMismatch(
            f"{cfg_name} is a Linux/{cfg.arch} config; {path} is a {facts.arch} kernel "
            f"(expected Linux/{want_arch})"
        )
    if facts.version != (0, 0, 0) and cfg.version != facts.version:
        raise KernelConfigMismatch(
            f"{cfg_name} is the config of Linux {'.'.join(map(str, cfg.version))}; {path} is "
            f"{facts.release} (Linux {'.'.join(map(str, facts.version))})"
        )
    comp = facts.compression.upper()
    if facts.compression in ("lz4", "xz", "zstd", "gzip", "bzip2", "lzma") and not cfg.enabled(
        f"KERNEL_{comp}"
    ):
        set_ = [k for k in cfg.options if k.startswith("CONFIG_KERNEL_") and k[14:] in
                ("LZ4", "XZ", "ZSTD", "GZIP", "BZIP2", "LZMA", "LZO")]
        raise KernelConfigMismatch(
            f"{cfg_name} builds a {', '.join(set_) or 'differently'} compressed image; {path} "
            f"is {facts.compression} compressed (expected CONFIG_KERNEL_{comp}=y): another build"
        )


def config_beside(image: Path, release: str) -> Path | None:
    """config-RELEASE next to the image (/boot), or `config` (driverkit's guest cache)."""
    for cand in (image.parent / f"config-{release}", image.parent / "config"):
        if cand.is_file():
            return cand
    return None


def read_image(path: PathLike, arch: str = "x86_64") -> ImageFacts:
    """What the image alone tells (release, version, layout, sizes), without its config."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise KernelImageError(f"kernel image {p}: {exc.strerror}") from None
    if not p.is_file():
        raise KernelImageError(f"kernel image {p}: not a file")
    return _read_image(str(p.resolve()), st.st_mtime_ns, st.st_size, arch)


@functools.lru_cache(maxsize=16)
def _read_image(path: str, mtime: int, size: int, arch: str) -> ImageFacts:
    p = Path(path)
    with open(p, "rb") as f:
        data = f.read()
    found = identify_arch(data[:4096])
    if found is None:
        raise NotAKernelImage(
            f"{p}: not a kernel image (first bytes {data[:8].hex()}); expected an x86 bzImage "
            "(\"HdrS\" at 0x202), a vmlinux ELF, or an arm64 Image (\"ARM\\x64\" at 0x38)"
        )
    if found != arch:
        raise KernelArchMismatch(f"{p} is an {found} kernel image; expected one for {arch}")
    reader = _READERS.get(found)
    if reader is None:
        raise KernelImageError(f"{p}: no reader for {found} kernel images in this driverkit")
    return reader.read(p, data)


def read_kernel(path: PathLike, config: PathLike | None = None, *,
                arch: str = "x86_64") -> KernelDescription:
    """The description of the kernel build in `path` (a vmlinuz), with its config.

    config: the build's config file (default: config-RELEASE or config beside the image).
    Raises a KernelImageError subclass naming the file for anything that is not a readable
    kernel of `arch`, and KernelConfigMismatch for a config of another build.
    """
    p = Path(path)
    facts = read_image(p, arch)
    cfg_path = Path(config) if config else config_beside(p, facts.release)
    if cfg_path is None:
        raise KernelImageError(
            f"{p}: no config for {facts.release} (looked for config-{facts.release} and config "
            f"beside it); name it with --kernel-config / kernel_config="
        )
    cfg = KernelConfig.load(cfg_path)
    _check_config(p, facts, cfg, str(cfg_path))
    return KernelDescription(facts, cfg, str(p))


@functools.lru_cache(maxsize=1)
def bundled_kernel() -> KernelDescription:
    """The default description: Debian's BUNDLED_RELEASE, as read from its image."""
    path = DATA / f"{BUNDLED_RELEASE}.json"
    return KernelDescription.from_dict(json.loads(path.read_text()),
                                       f"bundled description of {BUNDLED_RELEASE}")


def resolve_kernel(kernel: "KernelDescription | PathLike | None",
                   config: PathLike | None = None) -> KernelDescription:
    """A description from what plan() was given: one, an image path, or None (bundled)."""
    if isinstance(kernel, KernelDescription):
        return kernel
    if kernel is None:
        return bundled_kernel()
    return read_kernel(kernel, config)
