"""The kernel build the allocator model predicts, read from its image and config.

`read_kernel(path)` -> KernelDescription (layout, sizes, config, version rules);
`bundled_kernel()` is the default. Readers per architecture plug in via `register_reader`.
"""

from .arm64 import Arm64Reader
from .description import (
    BUNDLED_RELEASE,
    KernelDescription,
    KernelReader,
    bundled_kernel,
    config_beside,
    identify_arch,
    read_image,
    read_kernel,
    register_reader,
    resolve_kernel,
)
from .layout import ImageLayout
from .versions import VersionRules, rules_for
from .x86 import X86Reader

register_reader(X86Reader())
register_reader(Arm64Reader())

__all__ = [
    "Arm64Reader",
    "BUNDLED_RELEASE",
    "ImageLayout",
    "KernelDescription",
    "KernelReader",
    "VersionRules",
    "X86Reader",
    "bundled_kernel",
    "config_beside",
    "identify_arch",
    "read_image",
    "read_kernel",
    "register_reader",
    "resolve_kernel",
    "rules_for",
]
