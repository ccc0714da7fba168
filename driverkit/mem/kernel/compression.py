"""Decompress an x86 bzImage payload (the compressed vmlinux) by its magic bytes.

The kernel build appends the uncompressed size as 4 little-endian bytes to every payload
(scripts/Makefile.lib size_append), so the result is checked against it. Debian's cloud
flavour uses LZ4 in the legacy frame format (lib/decompress_unlz4.c: 8 MiB blocks, each
preceded by its compressed size), the generic flavour XZ; the stdlib covers XZ, gzip,
bzip2 and lzma, python-lz4 the LZ4 blocks, `zstandard` zstd.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib

LZ4_LEGACY_MAGIC = 0x184C2102
LZ4_LEGACY_BLOCK = 8 << 20
MAGICS = {
    b"\x02\x21\x4c\x18": "lz4",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\x5d\x00\x00": "lzma",
    b"\x89LZO": "lzo",
}


class PayloadError(ValueError):
    """The payload is cut short or does not decompress (the reader adds the file name)."""


class UnsupportedCompression(PayloadError):
    """A compression the reader has no decompressor for."""


def compression_of(payload: bytes) -> str | None:
    """The compression named by the payload's first bytes, or None if unknown."""
    for magic, name in MAGICS.items():
        if payload.startswith(magic):
            return name
    return None


def decompress(payload: bytes) -> tuple[str, bytes]:
    """(method, the uncompressed vmlinux) of a bzImage payload, checked against its size."""
    method = compression_of(payload)
    if method is None:
        raise UnsupportedCompression(f"unknown compression (first bytes {payload[:6].hex()})")
    if len(payload) < 8:
        raise PayloadError(f"payload of {len(payload)} bytes is too short")
    (want,) = struct.unpack_from("<I", payload, len(payload) - 4)
    body = payload[:-4]
    try:
        out = _DECODERS[method](body, want)
    except UnsupportedCompression:
        raise
    except (lzma.LZMAError, zlib.error, OSError, EOFError, ValueError, RuntimeError) as exc:
        raise PayloadError(f"{method} payload does not decompress: {exc}") from None
    if len(out) != want:
        raise PayloadError(
            f"{method} payload gives {len(out)} bytes; the image says {want} (truncated?)"
        )
    return method, out


def _lz4_legacy(body: bytes, want: int) -> bytes:
    import lz4.block

    out = bytearray()
    pos = 4
    while pos + 4 <= len(body) and len(out) < want:
        (n,) = struct.unpack_from("<I", body, pos)
        pos += 4
        if n == LZ4_LEGACY_MAGIC:  # concatenated frames
            continue
        if pos + n > len(body):
            raise PayloadError(
                f"lz4 block of {n} bytes at payload offset {pos:#x} runs past the end "
                f"({len(body)} bytes): truncated"
            )
        try:
            out += lz4.block.decompress(body[pos : pos + n], uncompressed_size=LZ4_LEGACY_BLOCK)
        except lz4.block.LZ4BlockError as exc:
            raise PayloadError(f"lz4 block at payload offset {pos:#x}: {exc}") from None
        pos += n
    return bytes(out)


def _stream(dec, body: bytes, want: int) -> bytes:
    out = dec.decompress(body, max_length=want + 1)
    if not dec.eof:
        raise PayloadError("the compressed stream ends early: truncated")
    return out


def _xz(body: bytes, want: int) -> bytes:
    return _stream(lzma.LZMADecompressor(lzma.FORMAT_XZ), body, want)


def _lzma(body: bytes, want: int) -> bytes:
    return _stream(lzma.LZMADecompressor(lzma.FORMAT_ALONE), body, want)


def _bzip2(body: bytes, want: int) -> bytes:
    dec = bz2.BZ2Decompressor()
    out = dec.decompress(body, max_length=want + 1)
    if not dec.eof:
        raise PayloadError("the compressed stream ends early: truncated")
    return out


def _gzip(body: bytes, want: int) -> bytes:
    dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = dec.decompress(body, want + 1)
    if not dec.eof:
        raise PayloadError("the compressed stream ends early: truncated")
    return out


def _zstd(body: bytes, want: int) -> bytes:
    try:
        import zstandard
    except ImportError:
        raise UnsupportedCompression(
            "zstd payload: install the 'zstandard' package to read it"
        ) from None
    try:
        dec = zstandard.ZstdDecompressor().decompressobj()
        out = dec.decompress(body)
    except zstandard.ZstdError as exc:
        raise PayloadError(f"zstd payload does not decompress: {exc}") from None
    if not dec.eof:
        raise PayloadError("the compressed stream ends early: truncated")
    return out


def _lzo(body: bytes, want: int) -> bytes:
    raise UnsupportedCompression("lzo payload: no maintained Python decompressor is used")


_DECODERS = {
    "lz4": _lz4_legacy,
    "xz": _xz,
    "lzma": _lzma,
    "bzip2": _bzip2,
    "gzip": _gzip,
    "zstd": _zstd,
    "lzo": _lzo,
}
