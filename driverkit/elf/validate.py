"""Up-front checks that turn a corrupt or truncated ELF into an ElfError with the reason and numbers.

pyelftools parses lazily and fails deep inside with construct/struct errors; checking the
header, table extents and segment extents against the file size first gives a message a user
can act on.
"""

from __future__ import annotations

import struct

from ..errors import ElfError

ELF_MAGIC = b"\x7fELF"


def check_elf_bytes(data: bytes, path: str) -> None:
    """Raise ElfError unless `data` is a complete ELF: header, program/section tables, segments."""
    size = len(data)
    if size == 0:
        raise ElfError(f"{path}: empty file, not an ELF")
    if data[:4] != ELF_MAGIC[: len(data)]:
        raise ElfError(f"{path}: not an ELF file: magic {data[:4]!r}, expected {ELF_MAGIC!r}")
    if size < 16:
        raise ElfError(f"{path}: truncated: {size} bytes, shorter than the 16-byte ELF identification")
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (1, 2):
        raise ElfError(f"{path}: corrupt ELF: EI_CLASS is {ei_class}, expected 1 (32-bit) or 2 (64-bit)")
    if ei_data not in (1, 2):
        raise ElfError(f"{path}: corrupt ELF: EI_DATA is {ei_data}, expected 1 (LSB) or 2 (MSB)")
    is64 = ei_class == 2
    end = "<" if ei_data == 1 else ">"
    ehsize_needed = 64 if is64 else 52
    if size < ehsize_needed:
        raise ElfError(f"{path}: truncated: {size} bytes, the ELF header alone needs {ehsize_needed}")
    if is64:
        (phoff, shoff) = struct.unpack_from(end + "QQ", data, 0x20)
        (phentsize, phnum, shentsize, shnum) = struct.unpack_from(end + "HHHH", data, 0x36)
    else:
        (phoff, shoff) = struct.unpack_from(end + "II", data, 0x1C)
        (phentsize, phnum, shentsize, shnum) = struct.unpack_from(end + "HHHH", data, 0x2A)
    want_ph = 56 if is64 else 32
    want_sh = 64 if is64 else 40
    if phnum and phentsize != want_ph:
        raise ElfError(f"{path}: corrupt ELF: e_phentsize is {phentsize}, expected {want_ph}")
    if shnum and shentsize != want_sh:
        raise ElfError(f"{path}: corrupt ELF: e_shentsize is {shentsize}, expected {want_sh}")
    for what, off, n, ent in (("program header table", phoff, phnum, phentsize),
                              ("section header table", shoff, shnum, shentsize)):
        if n and off + n * ent > size:
            raise ElfError(
                f"{path}: truncated: the {what} ({n} x {ent} bytes at offset {off:#x}) ends at "
                f"{off + n * ent:#x}, but the file has only {size:#x} bytes"
            )
    for i in range(phnum):
        base = phoff + i * phentsize
        if is64:
            p_type, _flags, p_offset, _va, _pa, p_filesz, p_memsz = struct.unpack_from(
                end + "IIQQQQQ", data, base)
        else:
            p_type, p_offset, _va, _pa, p_filesz, p_memsz = struct.unpack_from(end + "IIIIII", data, base)
        if p_type == 1:  # PT_LOAD
            if p_offset + p_filesz > size:
                raise ElfError(
                    f"{path}: truncated: segment {i} (PT_LOAD) needs file bytes "
                    f"[{p_offset:#x}, {p_offset + p_filesz:#x}) but the file has only {size:#x}"
                )
            if p_filesz > p_memsz:
                raise ElfError(
                    f"{path}: corrupt ELF: segment {i} has p_filesz {p_filesz:#x} > p_memsz {p_memsz:#x}"
                )
    for i in range(shnum):
        base = shoff + i * shentsize
        if is64:
            _name, sh_type, _fl, _addr, sh_offset, sh_size = struct.unpack_from(end + "IIQQQQ", data, base)
        else:
            _name, sh_type, _fl, _addr, sh_offset, sh_size = struct.unpack_from(end + "IIIIII", data, base)
        if sh_type not in (0, 8) and sh_offset + sh_size > size:  # SHT_NULL, SHT_NOBITS hold no bytes
            raise ElfError(
                f"{path}: truncated: section {i} needs file bytes "
                f"[{sh_offset:#x}, {sh_offset + sh_size:#x}) but the file has only {size:#x}"
            )
