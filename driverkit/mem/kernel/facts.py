"""What an architecture's reader extracts from one kernel image (before its config is added)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .layout import ImageLayout


@dataclass(frozen=True)
class ImageFacts:
    """The build as its image tells it: release, upstream version, compression, layout, sizes."""

    arch: str
    release: str
    version: tuple[int, int, int]
    banner: str
    compression: str
    layout: ImageLayout
    sizes: dict[str, int] = field(default_factory=dict)


def parse_version(banner: str, release: str) -> tuple[int, int, int]:
    """Upstream version: Debian's "Debian 6.1.176-1" in the banner, else the release's digits."""
    m = re.search(r"Debian (\d+)\.(\d+)\.(\d+)", banner) or re.match(
        r"(\d+)\.(\d+)(?:\.(\d+))?", release
    )
    if not m:
        return (0, 0, 0)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
