"""Where scripts/build-guest puts the Linux guest, and a checked handle on those files."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..cache import cache_dir
from ..errors import ArtifactMissing

__all__ = ["BUILD_HINT", "GUEST_FILES", "GuestArtifacts", "cache_dir"]

GUEST_FILES = ("vmlinuz", "initramfs.cpio.gz", "config", "dkprobe.ko", "manifest.json")
BUILD_HINT = "run scripts/build-guest (as root; it installs what it needs with apt)"


@dataclass(frozen=True)
class GuestArtifacts:
    """The built Linux guest: kernel, initramfs (busybox + init + dkprobe), config, manifest."""

    root: Path

    @classmethod
    def locate(cls, cache: str | os.PathLike[str] | None = None) -> "GuestArtifacts":
        """The guest under `cache` (default: cache_dir()); ArtifactMissing if incomplete."""
        root = (Path(cache) if cache is not None else cache_dir()) / "guest"
        missing = [name for name in GUEST_FILES if not (root / name).is_file()]
        if missing:
            raise ArtifactMissing(
                f"Linux guest artifacts missing in {root}: {', '.join(missing)}; {BUILD_HINT}"
            )
        return cls(root)

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
