"""Sizes as humans write them ("256M", "4G", 0x1000) and back."""

from __future__ import annotations

from .errors import SizeSyntaxError

_SHIFT = {"": 0, "B": 0, "K": 10, "M": 20, "G": 30, "T": 40}


def parse_size(value: int | str, what: str = "size") -> int:
    """Parse QEMU-style sizes: plain bytes, 0x hex, or a K/M/G/T suffix (binary units)."""
    if isinstance(value, bool):
        raise SizeSyntaxError(f"{what}: expected a size, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise SizeSyntaxError(f"{what}: negative size {value}")
        return value
    text = str(value).strip()
    if not text:
        raise SizeSyntaxError(f"{what}: empty size")
    if text.lower().startswith("0x"):
        try:
            return int(text, 16)
        except ValueError:
            raise SizeSyntaxError(f"{what}: bad hex size {value!r}") from None
    suffix = text[-1].upper() if text[-1].isalpha() else ""
    if suffix and suffix not in _SHIFT:
        raise SizeSyntaxError(f"{what}: unknown suffix {text[-1]!r} in {value!r} (use K, M, G, T)")
    number = text[: len(text) - len(suffix)] if suffix else text
    try:
        n = float(number) if "." in number else int(number)
    except ValueError:
        raise SizeSyntaxError(f"{what}: not a size: {value!r}") from None
    if n < 0:
        raise SizeSyntaxError(f"{what}: negative size {value!r}")
    result = int(n * (1 << _SHIFT[suffix]))
    return result


def format_size(n: int) -> str:
    """Render a byte count in the largest exact binary unit ("248M", "4K", "1234")."""
    for suffix, shift in (("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if n and n % (1 << shift) == 0:
            return f"{n >> shift}{suffix}"
    return str(n)


def parse_int(value: int | str, what: str = "value") -> int:
    """Parse an integer in decimal or 0x hex (as the CLI and qtest accept them)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value), 0)
    except ValueError:
        raise SizeSyntaxError(f"{what}: not a number: {value!r}") from None
