"""The x86 reader: a bzImage (or a bare x86_64 vmlinux ELF) -> the facts of its build.

bzImage (Documentation/arch/x86/boot.rst): the real-mode setup header sits at 0x1f1 with
"HdrS" at 0x202; setup_sects (0x1f1) gives where the protected-mode part starts,
payload_offset/payload_length (0x248/0x24c, protocol 2.08+) the compressed vmlinux inside
it, kernel_version (0x20e) a pointer to the release string.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from ...errors import KernelArchMismatch, KernelImageCorrupt, NotAKernelImage, UnknownCompression
from .compression import PayloadError, UnsupportedCompression, decompress
from .facts import ImageFacts, parse_version
from .vmlinux import EM_X86_64, Vmlinux, VmlinuxError

HDRS_OFFSET = 0x202
MIN_PROTOCOL = 0x208  # payload_offset/payload_length
_BANNER = re.compile(rb"Linux version (\S+) \([^\n\0]*")


def is_bzimage(head: bytes) -> bool:
    return len(head) >= HDRS_OFFSET + 4 and head[HDRS_OFFSET : HDRS_OFFSET + 4] == b"HdrS"


class X86Reader:
    """Reads Debian's (or any) x86_64 bzImage; the model's x86 kernel description comes from it."""

    arch = "x86_64"

    def recognizes(self, head: bytes) -> bool:
        return is_bzimage(head) or _elf_machine(head) == 62

    def read(self, path: Path, data: bytes) -> ImageFacts:
        if is_bzimage(data):
            release, banner, compression, elf = self._unpack(path, data)
        else:
            release = banner = ""
            compression, elf = "none (ELF)", data
        try:
            vm = Vmlinux(elf)
            if vm.machine != EM_X86_64:
                raise KernelArchMismatch(
                    f"{path}: the payload is an ELF for {vm.machine}, expected {EM_X86_64} "
                    "(an x86_64 kernel)"
                )
            layout = vm.layout()
            sizes = vm.struct_sizes({"pglist_data", "page"})
        except VmlinuxError as exc:
            raise KernelImageCorrupt(f"{path}: {exc}; expected an x86_64 vmlinux") from None
        if not release:
            m = _BANNER.search(elf)
            if not m:
                raise KernelImageCorrupt(f"{path}: no 'Linux version' banner in the image")
            release, banner = m.group(1).decode(), m.group(0).decode(errors="replace")
        return ImageFacts(
            arch=self.arch,
            release=release,
            version=parse_version(banner, release),
            banner=banner,
            compression=compression,
            layout=layout,
            sizes=sizes,
        )

    def _unpack(self, path: Path, data: bytes) -> tuple[str, str, str, bytes]:
        if len(data) < 0x250:
            raise KernelImageCorrupt(f"{path}: {len(data)} bytes, shorter than the setup header")
        (protocol,) = struct.unpack_from("<H", data, 0x206)
        if protocol < MIN_PROTOCOL:
            raise NotAKernelImage(
                f"{path}: boot protocol {protocol >> 8}.{protocol & 0xFF:02d}; expected 2.08 or "
                "newer (payload fields)"
            )
        setup_sects = data[0x1F1] or 4
        pm_start = (setup_sects + 1) * 512
        offset, length = struct.unpack_from("<II", data, 0x248)
        start, end = pm_start + offset, pm_start + offset + length
        if end > len(data) or length < 8:
            raise KernelImageCorrupt(
                f"{path}: the payload ({length} bytes at {start:#x}) ends at {end:#x}, the file "
                f"has {len(data)} bytes: truncated"
            )
        (vptr,) = struct.unpack_from("<H", data, 0x20E)
        text = data[vptr + 0x200 : vptr + 0x200 + 256].split(b"\0")[0].decode(errors="replace")
        release = text.split(" ")[0]
        try:
            method, elf = decompress(data[start:end])
        except UnsupportedCompression as exc:
            raise UnknownCompression(
                f"{path}: {exc}; expected an lz4, xz, zstd, gzip, bzip2 or lzma payload"
            ) from None
        except PayloadError as exc:
            raise KernelImageCorrupt(f"{path}: {exc}; expected a complete kernel payload") from None
        return release, text, method, elf


def _elf_machine(head: bytes) -> int | None:
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    fmt = "<H" if head[5] == 1 else ">H"
    return struct.unpack_from(fmt, head, 18)[0]
