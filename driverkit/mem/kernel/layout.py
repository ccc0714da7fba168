"""The image layout of one kernel build: the parts setup_arch() and free_initmem() name.

All figures are offsets from _text (the start of "Kernel code"), so the same layout serves
any load address (CONFIG_PHYSICAL_START, or where KASLR put the image).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: /proc/iomem names of the kernel image resources (arch/x86/kernel/setup.c)
RESOURCE_NAMES = ("Kernel code", "Kernel rodata", "Kernel data", "Kernel bss")


@dataclass(frozen=True)
class ImageLayout:
    """Where the parts of the image lie, as offsets from _text.

    resources: /proc/iomem name -> (first, last) byte, end inclusive as the kernel prints it.
    freed: what the kernel hands to the page allocator once booted, name -> [start, end).
    reserve_end: __end_of_kernel_reserve (early_reserve_memory reserves _text up to it).
    brk: [__brk_base, __brk_limit), of which reserve_brk() keeps the part used at boot.
    end: _end, the range e820_add_kernel_range() forces to RAM.
    """

    resources: dict[str, tuple[int, int]]
    freed: dict[str, tuple[int, int]] = field(default_factory=dict)
    reserve_end: int = 0
    brk: tuple[int, int] = (0, 0)
    end: int = 0

    def to_dict(self) -> dict:
        return {
            "resources": {k: [hex(a), hex(b)] for k, (a, b) in self.resources.items()},
            "freed": {k: [hex(a), hex(b)] for k, (a, b) in self.freed.items()},
            "reserve_end": hex(self.reserve_end),
            "brk": [hex(self.brk[0]), hex(self.brk[1])],
            "end": hex(self.end),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ImageLayout":
        def pair(v: list) -> tuple[int, int]:
            return int(v[0], 0), int(v[1], 0)

        return cls(
            resources={k: pair(v) for k, v in d["resources"].items()},
            freed={k: pair(v) for k, v in d["freed"].items()},
            reserve_end=int(d["reserve_end"], 0),
            brk=pair(d["brk"]),
            end=int(d["end"], 0),
        )
