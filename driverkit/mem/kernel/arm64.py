"""The arm64 reader. What an arm64 `Image` says about itself: its 64-byte boot header, the PE/COFF section
table of the EFI stub, the version banner and the BTF type sizes the boot model needs.

Documentation/arch/arm64/booting.rst: header words code0/code1, text_offset, image_size
(_end - _text, the memory the image needs including bss), flags (bit 0 big-endian, bits
1-2 page size, bit 3 placement), magic "ARM\\x64" at 0x38, PE header offset at 0x3c. The
EFI stub's section table gives `.text` = [_stext, __initdata_begin) and `.data` =
[__initdata_begin, _end) (arch/arm64/kernel/efi-header.S). Where the init section starts
and ends (__init_begin, __init_end) is in neither: `init_section` comes from a boot of this
build (the gap between "Kernel code" and "Kernel data" in /proc/iomem) or `known_layouts`.
"""

from __future__ import annotations

import functools
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import MemModelError, NotAKernelImage
from .btf import BtfError, struct_sizes
from .facts import ImageFacts, parse_version
from .layout import ImageLayout

ARM64_MAGIC = b"ARM\x64"
PAGE_SIZES = {1: 4096, 2: 16384, 3: 65536}
BTF_HEADER = b"\x9f\xeb\x01\x00\x18\x00\x00\x00"  # magic 0xEB9F, v1, flags 0, hdr_len 24
#: struct sizes the boot model uses (NODE_DATA, memmap, unflattened DT, sparse usemaps)
BTF_STRUCTS = ("page", "pglist_data", "device_node", "property", "mem_section_usage")

#: __init_begin/__init_end offsets from _text of builds measured here (the Image does not
#: carry them): release -> (init_begin, init_end)
KNOWN_INIT_SECTIONS = {"6.1.0-57-cloud-arm64": (0x1390000, 0x1810000)}


class NotAnArm64Image(MemModelError):
    """The file is not an arm64 Image (no "ARM\\x64" magic, or cut short)."""


@dataclass(frozen=True)
class Arm64Image:
    """One arm64 kernel Image, as the boot model needs it (offsets from _text)."""

    path: str
    text_offset: int
    image_size: int
    flags: int
    stext: int  # _stext (PE .text VirtualAddress)
    initdata_begin: int  # __initdata_begin (PE .data VirtualAddress)
    edata: int
    release: str
    banner: str
    sizes: dict[str, int] = field(default_factory=dict)  # BTF struct sizes + percpu_static
    init_section: tuple[int, int] | None = None  # (__init_begin, __init_end) if known

    @property
    def page_size(self) -> int:
        return PAGE_SIZES.get((self.flags >> 1) & 3, 4096)

    @property
    def big_endian(self) -> bool:
        return bool(self.flags & 1)

    @property
    def end(self) -> int:
        """_end: image_size is _end - _text."""
        return self.image_size

    def size(self, name: str, default: int) -> int:
        return self.sizes.get(name, default)

    def with_init_section(self, begin: int, end: int) -> "Arm64Image":
        if not (self.stext < begin <= self.initdata_begin < end <= self.edata):
            raise MemModelError(
                f"init section {begin:#x}-{end:#x} does not fit this image (_stext "
                f"{self.stext:#x}, __initdata_begin {self.initdata_begin:#x}, _edata "
                f"{self.edata:#x})")
        from dataclasses import replace

        return replace(self, init_section=(begin, end))

    @classmethod
    def read(cls, path: "str | os.PathLike[str]") -> "Arm64Image":
        """The Image at `path` (read once per file version: it is ~27 MB)."""
        p = os.fspath(path)
        try:
            st = os.stat(p)
        except OSError as exc:
            raise MemModelError(f"kernel image {p}: {exc.strerror}") from None
        return _read_cached(p, st.st_mtime_ns, st.st_size)

    @classmethod
    def parse(cls, data: bytes, name: str = "Image") -> "Arm64Image":
        if len(data) < 64 or data[0x38:0x3C] != ARM64_MAGIC:
            hint = " (an x86 bzImage?)" if data[0x202:0x206] == b"HdrS" else ""
            raise NotAnArm64Image(f"{name}: not an arm64 Image: no 'ARM\\x64' magic at 0x38"
                                  f"{hint}")
        _c0, _c1, text_offset, image_size, flags = struct.unpack_from("<IIQQQ", data, 0)
        if image_size == 0:
            raise NotAnArm64Image(f"{name}: image_size 0 (a pre-3.17 Image; its memory "
                                  f"footprint is unknown)")
        stext, initdata, edata = _pe_sections(data, name)
        m = re.search(rb"Linux version (\S+) [^\n\0]{0,300}", data)
        if not m:
            raise NotAnArm64Image(f"{name}: no 'Linux version' banner (compressed Image?)")
        release = m.group(1).decode("ascii", "replace")
        sizes = _btf_sizes(data, name)
        return cls(name, text_offset, image_size, flags, stext, initdata, edata, release,
                   m.group(0).decode("ascii", "replace"), sizes,
                   KNOWN_INIT_SECTIONS.get(release))


@functools.lru_cache(maxsize=8)
def _read_cached(path: str, _mtime: int, _size: int) -> Arm64Image:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise MemModelError(f"kernel image {path}: {exc.strerror}") from None
    return Arm64Image.parse(data, path)


def _pe_sections(data: bytes, name: str) -> tuple[int, int, int]:
    (pe,) = struct.unpack_from("<I", data, 0x3C)
    if data[:2] != b"MZ" or data[pe:pe + 4] != b"PE\0\0":
        raise NotAnArm64Image(f"{name}: no EFI stub PE header (CONFIG_EFI off?); the "
                              f"model needs its section table")
    nsec, optsz = struct.unpack_from("<H", data, pe + 6)[0], \
        struct.unpack_from("<H", data, pe + 20)[0]
    table = pe + 24 + optsz
    sections = {}
    for i in range(nsec):
        sname, vsize, va, rsize, _rp = struct.unpack_from("<8sIIII", data, table + 40 * i)
        sections[sname.rstrip(b"\0").decode("ascii", "replace")] = (va, vsize, rsize)
    if ".text" not in sections or ".data" not in sections:
        raise NotAnArm64Image(f"{name}: PE sections {sorted(sections)} lack .text/.data")
    text_va = sections[".text"][0]
    data_va, _dsize, data_raw = sections[".data"]
    return text_va, data_va, data_va + data_raw


def _btf_sizes(data: bytes, name: str) -> dict[str, int]:
    """struct sizes (BTF_STRUCTS) and the .data..percpu size from the image's .BTF ({} when
    the build has none; an unreadable one is an error, not the defaults, as on x86)."""
    i = data.find(BTF_HEADER)
    if i < 0:
        return {}
    try:
        out = struct_sizes(data[i:], set(BTF_STRUCTS), {".data..percpu"})
    except BtfError as exc:
        raise NotAnArm64Image(f"{name}: its .BTF is unreadable: {exc}") from None
    if ".data..percpu" in out:
        out["percpu_static"] = out.pop(".data..percpu")
    return out


class Arm64Reader:
    """Reads an arm64 Image (Debian's vmlinuz for arm64 is one, uncompressed)."""

    arch = "arm64"

    def recognizes(self, head: bytes) -> bool:
        return head[0x38:0x3C] == ARM64_MAGIC

    def read(self, path: Path, data: bytes) -> ImageFacts:
        try:
            img = Arm64Image.parse(data, str(path))
        except NotAnArm64Image as exc:
            raise NotAKernelImage(str(exc)) from None
        resources = {}
        if img.init_section is not None:  # not in the Image: known builds only
            begin, end = img.init_section
            resources = {"Kernel code": (img.stext, begin - 1),
                         "Kernel data": (end, img.end - 1)}
        layout = ImageLayout(resources=resources, reserve_end=img.end, end=img.end)
        return ImageFacts(arch=self.arch, release=img.release,
                          version=parse_version(img.banner[img.banner.find(' #'):], img.release), banner=img.banner,
                          compression="none (Image)", layout=layout, sizes=dict(img.sizes))
