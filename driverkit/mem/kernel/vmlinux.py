"""The x86_64 vmlinux ELF (as a bzImage carries it): section headers -> image layout.

Debian's image keeps no symbols but keeps its section headers, and arch/x86/kernel/
vmlinux.lds.S ties the symbols setup_arch() uses to sections: _text/_etext bound .text,
__start_rodata is .rodata and __end_rodata the page-aligned end of the last read-only
section before .data (RO_DATA ends with `. = ALIGN(PAGE_SIZE)`), _sdata/_edata bound
.data, __bss_start/__bss_stop bound .bss (= __end_of_kernel_reserve), .brk follows and
_end is its page-aligned end. __init_begin is the load address of .data..percpu (the first
init section on SMP x86_64), __init_end the start of .smp_locks.
"""

from __future__ import annotations

import io

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from .btf import BtfError, struct_sizes
from .layout import ImageLayout

PAGE = 4096
EM_X86_64 = "EM_X86_64"


class VmlinuxError(ValueError):
    """The ELF lacks what the layout needs (the reader adds the file name)."""


def _up(x: int, a: int = PAGE) -> int:
    return -(-x // a) * a


def _down(x: int, a: int = PAGE) -> int:
    return x // a * a


class Vmlinux:
    """The sections of one vmlinux ELF, by name, with physical offsets from _text."""

    def __init__(self, data: bytes) -> None:
        try:
            self.elf = ELFFile(io.BytesIO(data))
            self.machine = self.elf["e_machine"]
            self.sections = {s.name: s for s in self.elf.iter_sections()}
            self.segments = [s for s in self.elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        except (ELFError, ValueError, IndexError) as exc:
            raise VmlinuxError(f"the payload is not a readable ELF ({exc})") from None
        if ".text" not in self.sections:
            raise VmlinuxError("the ELF has no .text section")
        self.text = self.sections[".text"]["sh_addr"]

    def span(self, name: str) -> tuple[int, int]:
        """[start, end) of a section as offsets from _text."""
        s = self.sections.get(name)
        if s is None:
            raise VmlinuxError(f"the ELF has no {name} section")
        return s["sh_addr"] - self.text, s["sh_addr"] + s["sh_size"] - self.text

    def load_offset(self, name: str) -> int:
        """Offset from _text where a section is loaded (per-CPU sections link at 0)."""
        s = self.sections[name]
        text_seg = next(g for g in self.segments if g["p_vaddr"] <= self.text < g["p_vaddr"]
                        + max(g["p_memsz"], 1))
        for g in self.segments:
            if g["p_offset"] <= s["sh_offset"] < g["p_offset"] + max(g["p_filesz"], 1):
                return g["p_paddr"] + (s["sh_offset"] - g["p_offset"]) - text_seg["p_paddr"]
        raise VmlinuxError(f"section {name} is in no loadable segment")

    def allocated(self) -> list[tuple[str, int, int]]:
        """(name, start, end) of the sections linked in the kernel's address range."""
        out = []
        for name, s in self.sections.items():
            if s["sh_flags"] & 2 and s["sh_addr"] >= self.text:  # SHF_ALLOC
                out.append((name, s["sh_addr"] - self.text, s["sh_addr"] + s["sh_size"]
                            - self.text))
        return sorted(out, key=lambda t: t[1])

    def struct_sizes(self, names: set[str]) -> dict[str, int]:
        """sizeof() of these structs from .BTF ({} when the build has no BTF)."""
        s = self.sections.get(".BTF")
        if s is None:
            return {}
        try:
            return struct_sizes(s.data(), names)
        except BtfError as exc:
            raise VmlinuxError(f"its .BTF section is unreadable: {exc}") from None

    def layout(self) -> ImageLayout:
        """The image layout the x86 linker script implies (see the module docstring)."""
        code = self.span(".text")
        rodata0, _ = self.span(".rodata")
        data = self.span(".data")
        bss = self.span(".bss")
        brk = self.span(".brk")
        secs = self.allocated()
        ro_last = max(e for n, s, e in secs if rodata0 <= s < data[0])
        rodata = (rodata0, _up(ro_last))
        if ".data..percpu" in self.sections:
            init_begin = self.load_offset(".data..percpu")
        else:
            init_begin = _down(min(s for n, s, e in secs if n.startswith(".init.")))
        if ".smp_locks" in self.sections:
            smp = self.span(".smp_locks")
            init_end = smp[0]
        else:
            smp = None
            init_end = _up(max(e for n, s, e in secs if s >= init_begin and s < bss[0]))
        freed = {
            "kernel image (initmem)": (init_begin, init_end),
            "kernel image (text/rodata gap)": (_up(code[1]), rodata[0]),
            "kernel image (rodata/data gap)": (rodata[1], data[0]),
        }
        if smp:
            freed["SMP alternatives"] = (smp[0], _up(smp[1]))
        return ImageLayout(
            resources={
                "Kernel code": (code[0], code[1] - 1),
                "Kernel rodata": (rodata[0], rodata[1] - 1),
                "Kernel data": (data[0], data[1] - 1),
                "Kernel bss": (bss[0], bss[1] - 1),
            },
            freed={k: v for k, v in freed.items() if v[1] > v[0]},
            reserve_end=bss[1],
            brk=brk,
            end=_up(brk[1]),
        )
