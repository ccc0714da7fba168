"""The memory parameters of an x86 kernel command line, parsed as Linux 6.1 parses them.

`mem=` (a maximum physical *address* on x86), `memmap=` in every x86 form (`exactmap`,
`nn@ss` RAM, `nn#ss` ACPI, `nn$ss` reserved, `nn!ss` PRAM, `nn%ss-old+new`, bare `nn`,
comma lists, repeated), `crashkernel=` (size[@base], ranges, `,high`, `,low`), `cma=`,
`iomem=` and `log_buf_len=`. By default malformed values raise CmdlineError naming the
parameter; with strict=False the kernel's own lenient reading is kept and the problem
is recorded in `warnings` (e.g. `memmap=8Mx248M` really acts as `mem=8M`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import CmdlineError
from .e820 import E820Type
from .memparse import U64, memparse, octal_trap, parse_param_size, simple_strtoull


@dataclass(frozen=True)
class MemLimit:
    """`mem=nn` or bare `memmap=nn`: drop RAM at and above nn."""

    limit: int
    param: str


@dataclass(frozen=True)
class MemmapExact:
    """`memmap=exactmap`: forget the firmware map."""


@dataclass(frozen=True)
class MemmapAdd:
    """`memmap=nn@ss` / `#` / `$` / `!` (and `%ss+type`): add a range of a type."""

    size: int
    start: int
    type: int
    text: str


@dataclass(frozen=True)
class MemmapUpdate:
    """`memmap=nn%ss-old+new`."""

    size: int
    start: int
    old: int
    new: int
    text: str


@dataclass(frozen=True)
class MemmapRemove:
    """`memmap=nn%ss-old` (or `%ss` alone: remove every type)."""

    size: int
    start: int
    old: int  # 0 = any type
    text: str


EarlyOp = MemLimit | MemmapExact | MemmapAdd | MemmapUpdate | MemmapRemove


@dataclass(frozen=True)
class CrashRange:
    start: int
    end: int | None  # exclusive; None = open-ended
    size: int


@dataclass(frozen=True)
class CrashkernelSpec:
    """One `crashkernel=` value: a fixed size or a table of ranges, an optional base."""

    text: str
    size: int = 0
    ranges: tuple[CrashRange, ...] = ()
    base: int = 0
    suffix: str = ""  # "", "high" or "low"

    def size_for(self, system_ram: int) -> int:
        """The size chosen for this much memblock memory (ranges round it up to 128 MiB)."""
        if not self.ranges:
            return self.size
        total = -(-system_ram // (128 << 20)) * (128 << 20)
        for r in self.ranges:
            if r.size >= total:
                return 0  # "crashkernel: invalid size"
            if total >= r.start and (r.end is None or total < r.end):
                return r.size
        return 0


@dataclass(frozen=True)
class CmaSpec:
    size: int
    base: int = 0
    limit: int = 0
    fixed: bool = False


@dataclass
class KernelCmdline:
    """What the memory model needs from a command line, in kernel order."""

    text: str = ""
    early: list[EarlyOp] = field(default_factory=list)
    crashkernel: CrashkernelSpec | None = None
    crashkernel_high: CrashkernelSpec | None = None
    crashkernel_low: CrashkernelSpec | None = None
    cma: CmaSpec | None = None
    iomem_relaxed: bool = False
    log_buf_len: int = 0
    nokaslr: bool = False
    userdef: bool = False  # the kernel prints a "user-defined physical RAM map"
    warnings: list[str] = field(default_factory=list)


def split_args(text: str) -> list[tuple[str, str | None]]:
    """Split like the kernel's next_arg(): whitespace outside double quotes, `--` ends it."""
    out: list[tuple[str, str | None]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        j, quoted = i, False
        while j < n and (quoted or not text[j].isspace()):
            if text[j] == '"':
                quoted = not quoted
            j += 1
        word = text[i:j]
        i = j
        if word == "--":
            break
        if "=" in word:
            k, v = word.split("=", 1)
            out.append((k.replace('"', ""), v.replace('"', "")))
        else:
            out.append((word.replace('"', ""), None))
    return out


class _Parser:
    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.cl = KernelCmdline()

    def problem(self, msg: str) -> None:
        if self.strict:
            raise CmdlineError(msg)
        self.cl.warnings.append(msg)

    # mem= ------------------------------------------------------------------------------
    def mem(self, value: str | None) -> None:
        if value is None or value == "":
            self.problem(
                "mem=: needs a value such as mem=248M (kernel: \"Malformed early option 'mem'\")"
            )
            return
        if value == "nopentium":
            self.problem(
                'mem=nopentium: only supported on x86_32 (kernel: "mem=nopentium ignored!")'
            )
            return
        self.cl.userdef = True  # parse_memopt sets it before it parses the number
        n, end = memparse(value)
        if self.strict:
            n = parse_param_size("mem", value)
        elif n == 0:
            self.cl.warnings.append(
                f"mem={value}: reads as 0, kernel ignores it (\"Malformed early option 'mem'\")"
            )
            return
        elif end != len(value):
            self.cl.warnings.append(f"mem={value}: kernel reads {n:#x} and ignores {value[end:]!r}")
        self.cl.early.append(MemLimit(n, f"mem={value}"))

    # memmap= ---------------------------------------------------------------------------
    def memmap(self, value: str | None) -> None:
        if value is None:
            self.problem(
                "memmap: needs a value (memmap=exactmap, nn@ss, nn#ss, nn$ss, nn!ss, nn%ss-a+b, nn)"
            )
            return
        for item in value.split(","):
            self.memmap_one(item, value)

    def memmap_one(self, p: str, whole: str) -> None:
        name = f"memmap={p}" if p == whole else f"memmap={whole} (item {p!r})"
        if p.startswith("exactmap"):
            self.cl.userdef = True
            if p != "exactmap":
                self.problem(f"{name}: trailing {p[8:]!r} after exactmap")
            self.cl.early.append(MemmapExact())
            return
        size, pos = memparse(p)
        if pos == 0:
            self.problem(f"{name}: expected a size such as 8M, got {p!r}")
            return
        self.cl.userdef = True
        if self.strict:
            trap = octal_trap(p)
            if trap and (
                pos < len(p) and p[pos] not in "@#$!%" or any(c in "89" for c in p[: pos + 1])
            ):
                raise CmdlineError(f"{name}: {trap}")
        kinds = {"@": E820Type.RAM, "#": E820Type.ACPI, "$": E820Type.RESERVED, "!": E820Type.PRAM}
        sep = p[pos] if pos < len(p) else ""
        if sep in kinds:
            start, end = memparse(p, pos + 1)
            if end == pos + 1:
                self.problem(f"{name}: expected a start address after {sep!r}")
            if self.strict:
                trap = octal_trap(p, pos + 1)
                if trap and end != len(p):
                    raise CmdlineError(f"{name}: {trap}")
            if size == 0 and self.strict:
                raise CmdlineError(f"{name}: size is 0")
            self.cl.early.append(MemmapAdd(size, start, kinds[sep], p))
            if end != len(p):
                self.problem(
                    f"{name}: unexpected {p[end:]!r} after the start address "
                    "(the kernel has already added the range, then returns -EINVAL)"
                )
            return
        if sep == "%":
            start, q = memparse(p, pos + 1)
            old = new = 0
            if q < len(p) and p[q] == "-":
                old, q = simple_strtoull(p, q + 1, 0)
            if q < len(p) and p[q] == "+":
                new, q = simple_strtoull(p, q + 1, 0)
            if q != len(p):
                self.problem(f"{name}: expected nn%ss-oldtype+newtype, unexpected {p[q:]!r}")
                return
            if old and new:
                self.cl.early.append(MemmapUpdate(size, start, old, new, p))
            elif new:
                self.cl.early.append(MemmapAdd(size, start, new, p))
            else:
                self.cl.early.append(MemmapRemove(size, start, old, p))
            return
        # no separator: like mem=nn (and with junk, the kernel *still* applies it first)
        if size == 0:
            self.problem(f"{name}: size is 0")
        self.cl.early.append(MemLimit(size, f"memmap={p}"))
        if sep:
            self.problem(
                f"{name}: unknown separator {sep!r} after {p[:pos]!r} (use @ # $ ! or %); "
                f"the kernel then treats it as mem={p[:pos]}, cutting RAM at {size:#x}"
            )

    # crashkernel= ----------------------------------------------------------------------
    def crashkernel(self, value: str | None) -> None:
        if not value:
            self.problem(
                "crashkernel=: needs a value such as 64M, 256M,high or 512M-2G:64M,2G-:128M"
            )
            return
        suffix = ""
        v = value
        for s in (",high", ",low"):
            if v.endswith(s):
                suffix, v = s[1:], v[: -len(s)]
        try:
            spec = _parse_crash(v, value, suffix)
        except CmdlineError as exc:
            self.problem(str(exc))
            return
        if suffix == "high":
            self.cl.crashkernel_high = spec
        elif suffix == "low":
            self.cl.crashkernel_low = spec
        else:
            self.cl.crashkernel = spec

    def cma(self, value: str | None) -> None:
        if not value:
            self.problem("cma=: needs a size such as cma=64M or cma=64M@0-4G")
            return
        size, p = memparse(value)
        if p == 0:
            self.problem(f"cma={value}: expected a size such as 64M")
            return
        base = limit = 0
        fixed = False
        if p < len(value) and value[p] == "@":
            base, p = memparse(value, p + 1)
            if p < len(value) and value[p] == "-":
                limit, p = memparse(value, p + 1)
            else:
                limit, fixed = base + size, True
        if p != len(value):
            self.problem(
                f"cma={value}: unexpected {value[p:]!r} (syntax cma=nn[MG]@[start[MG][-end[MG]]])"
            )
        self.cl.cma = CmaSpec(size, base, limit, fixed)


def _parse_crash(v: str, whole: str, suffix: str) -> CrashkernelSpec:
    name = f"crashkernel={whole}"
    if suffix:
        size, p = memparse(v)
        if p == 0 or p != len(v):
            raise CmdlineError(f"{name}: expected size,{suffix} such as 256M,{suffix}")
        return CrashkernelSpec(whole, size=size, suffix=suffix)
    if ":" in v:
        ranges: list[CrashRange] = []
        cur = 0
        while True:
            start, q = memparse(v, cur)
            if q == cur:
                raise CmdlineError(f"{name}: memory value expected at {v[cur:]!r}")
            if q >= len(v) or v[q] != "-":
                raise CmdlineError(f"{name}: '-' expected after {v[cur:q]!r}")
            cur = q + 1
            end = None
            if cur < len(v) and v[cur] != ":":
                end, q = memparse(v, cur)
                if q == cur:
                    raise CmdlineError(f"{name}: memory value expected at {v[cur:]!r}")
                if end <= start:
                    raise CmdlineError(f"{name}: range end {end:#x} <= start {start:#x}")
                cur = q
            if cur >= len(v) or v[cur] != ":":
                raise CmdlineError(f"{name}: ':' expected at {v[cur:]!r}")
            cur += 1
            size, q = memparse(v, cur)
            if q == cur:
                raise CmdlineError(f"{name}: memory value expected after ':'")
            ranges.append(CrashRange(start, end, size))
            cur = q
            if cur < len(v) and v[cur] == ",":
                cur += 1
                continue
            break
        base = 0
        if cur < len(v):
            if v[cur] != "@":
                raise CmdlineError(f"{name}: unexpected {v[cur:]!r}")
            base, q = memparse(v, cur + 1)
            if q == cur + 1 or q != len(v):
                raise CmdlineError(f"{name}: memory value expected after '@'")
        return CrashkernelSpec(whole, ranges=tuple(ranges), base=base)
    size, p = memparse(v)
    if p == 0:
        raise CmdlineError(
            f'{name}: memory value expected (kernel: "crashkernel: memory value expected")'
        )
    base = 0
    if p < len(v) and v[p] == "@":
        base, q = memparse(v, p + 1)
        if q == p + 1 or q != len(v):
            raise CmdlineError(f"{name}: memory value expected after '@'")
    elif p != len(v):
        raise CmdlineError(
            f'{name}: unrecognized char {v[p]!r} (kernel: "crashkernel: unrecognized char")'
        )
    trap = octal_trap(v)
    if trap and any(c in "89" for c in v[: p + 1]):
        raise CmdlineError(f"{name}: {trap}")
    return CrashkernelSpec(whole, size=size, base=base)


def parse_cmdline(text: str, *, strict: bool = True) -> KernelCmdline:
    """Parse the memory-related parameters of a kernel command line, in order."""
    if not isinstance(text, str):
        raise CmdlineError(f"kernel command line must be a string, got {type(text).__name__}")
    p = _Parser(strict)
    p.cl.text = text
    for key, value in split_args(text):
        k = key.replace("_", "-")
        if k == "mem":
            p.mem(value)
        elif k == "memmap":
            p.memmap(value)
        elif k == "crashkernel":
            p.crashkernel(value)
        elif k == "cma":
            p.cma(value)
        elif k == "iomem":
            if value == "relaxed":
                p.cl.iomem_relaxed = True
            elif value == "strict":
                p.cl.iomem_relaxed = False
            else:
                p.problem(f"iomem={value}: expected iomem=relaxed or iomem=strict")
        elif k == "log-buf-len":
            if value:
                n = parse_param_size("log_buf_len", value) if strict else memparse(value)[0]
                # rounded up to a power of two (kernel/printk/printk.c log_buf_len_update)
                p.cl.log_buf_len = 1 << (n - 1).bit_length() if n else 0
        elif k == "nokaslr":
            p.cl.nokaslr = True
    return p.cl


__all__ = [
    "CmaSpec",
    "CrashRange",
    "CrashkernelSpec",
    "EarlyOp",
    "KernelCmdline",
    "MemLimit",
    "MemmapAdd",
    "MemmapExact",
    "MemmapRemove",
    "MemmapUpdate",
    "U64",
    "parse_cmdline",
    "split_args",
]
