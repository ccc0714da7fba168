"""Where scripts/build-guest puts the Linux guest, and a checked handle on those files."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..cache import cache_dir
from ..errors import ArtifactMissing, ConfigError

__all__ = ["ARM64_FILES", "BUILD_HINT", "GUEST_DIRS", "GUEST_FILES", "GuestArtifacts", "cache_dir"]

GUEST_FILES = ("vmlinuz", "initramfs.cpio.gz", "config", "dkprobe.ko", "manifest.json")
#: the arm64 guest may lack dkprobe.ko (no cross compiler): its manifest says so
ARM64_FILES = ("vmlinuz", "initramfs.cpio.gz", "config", "manifest.json")
BUILD_HINT = "run scripts/build-guest (as root; it installs what it needs with apt)"
#: where scripts/build-guest puts each architecture's guest, under the cache root
GUEST_DIRS = {"x86_64": "guest", "aarch64": "guest-aarch64"}


def _manifest_says_probe(root: Path) -> bool:
    """dkprobe.ko belongs to this guest unless its manifest says it could not be built."""
    try:
        return json.loads((root / "manifest.json").read_text()).get("dkprobe", True) is not False
    except (OSError, ValueError):
        return True


@dataclass(frozen=True)
class GuestArtifacts:
    """The built Linux guest: kernel, initramfs (busybox + init + dkprobe), config, manifest."""

    root: Path
    arch: str = "x86_64"

    @classmethod
    def locate(cls, cache: str | os.PathLike[str] | None = None,
               arch: str = "x86_64", release: str | None = None) -> "GuestArtifacts":
        """The `arch` guest under `cache` (default: cache_dir()); ArtifactMissing if incomplete.

        release: one of the kernels `scripts/build-guest KERNEL` built side by side (see
        `releases()`); default: the default guest.
        """
        if arch not in GUEST_DIRS:
            raise ConfigError(f"no Linux guest for arch {arch!r}; built: "
                              f"{', '.join(GUEST_DIRS)}")
        base = (Path(cache) if cache is not None else cache_dir()) / GUEST_DIRS[arch]
        root = base / release if release else base
        if release and not root.is_dir():
            built = ", ".join(cls.releases(cache, arch)) or "none"
            raise ArtifactMissing(f"no {arch} guest for kernel {release} in {base} (built: "
                                  f"{built}); run scripts/build-guest {release}")
        needed = list(ARM64_FILES)
        if arch == "x86_64" and _manifest_says_probe(root):
            needed = list(GUEST_FILES)
        missing = [name for name in needed if not (root / name).is_file()]
        if missing:
            raise ArtifactMissing(
                f"{arch} Linux guest artifacts missing in {root}: {', '.join(missing)}; "
                f"{BUILD_HINT}"
            )
        return cls(root, arch)

    @classmethod
    def releases(cls, cache: str | os.PathLike[str] | None = None,
                 arch: str = "x86_64") -> list[str]:
        """The kernel releases built side by side under the cache (guest/RELEASE/), sorted."""
        base = (Path(cache) if cache is not None else cache_dir()) / GUEST_DIRS[arch]
        if not base.is_dir():
            return []
        return sorted(d.name for d in base.iterdir()
                      if d.is_dir() and not d.is_symlink() and (d / "manifest.json").is_file())

    @property
    def has_probe(self) -> bool:
        """dkprobe.ko was built for this guest (the arm64 one needs a cross compiler)."""
        return self.module.is_file() and self.manifest.get("dkprobe", True) is not False

    @property
    def probe_missing_reason(self) -> str:
        """Why the guest has no dkprobe ("" when it has one)."""
        if self.has_probe:
            return ""
        return str(self.manifest.get("dkprobe_missing_reason") or "dkprobe.ko was not built")

    @property
    def kernel(self) -> Path:
        return self.root / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.root / "initramfs.cpio.gz"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def module(self) -> Path:
        """dkprobe.ko as built (also inside the initramfs)."""
        return self.root / "dkprobe.ko"

    @property
    def manifest(self) -> dict:
        """Versions and hashes recorded by scripts/build-guest."""
        try:
            return json.loads((self.root / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise ArtifactMissing(f"{self.root / 'manifest.json'} unreadable ({exc}); "
                                  f"{BUILD_HINT}") from None

    @property
    def kernel_release(self) -> str:
        return str(self.manifest.get("kernel_release", ""))

    def kernel_config(self) -> dict[str, str]:
        """The kernel's CONFIG_* options that are set (value 'y', 'm', a number or a string)."""
        out = {}
        for line in self.config.read_text().splitlines():
            if line.startswith("CONFIG_") and "=" in line:
                key, value = line.split("=", 1)
                out[key] = value.strip('"')
        return out
