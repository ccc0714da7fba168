"""Numbers as the kernel reads them: `simple_strtoull(s, &end, 0)` and `memparse()`.

Faithful to lib/vsprintf.c and lib/cmdline.c: base 0 means "0x" + a hex digit is hex and
any other leading "0" is octal (the trap: "0248M" reads as octal 024 = 20 bytes and stops
at "8"); K/M/G/T/P/E in either case each shift by 10; parsing stops at the first character
it does not know and arithmetic wraps at 64 bits. `parse_param_size` is the strict front
door the model uses: it refuses what the kernel would silently misread.
"""

from __future__ import annotations

from ..errors import CmdlineError

U64 = (1 << 64) - 1
_SUFFIX_SHIFT = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
_HEX = "0123456789abcdefABCDEF"


def _digit(ch: str, base: int) -> int | None:
    if "0" <= ch <= "9":
        v = ord(ch) - 48
    elif "a" <= ch.lower() <= "f":
        v = ord(ch.lower()) - 87
    else:
        return None
    return v if v < base else None


def simple_strtoull(text: str, pos: int = 0, base: int = 0) -> tuple[int, int]:
    """Parse an unsigned number at text[pos:]; return (value mod 2**64, end position)."""
    s = text
    if base == 0:
        if pos < len(s) and s[pos] == "0":
            if pos + 2 < len(s) and s[pos + 1] in "xX" and s[pos + 2] in _HEX:
                base = 16
            else:
                base = 8
        else:
            base = 10
    if base == 16 and s[pos : pos + 2] in ("0x", "0X"):
        pos += 2
    value = 0
    while pos < len(s):
        d = _digit(s[pos], base)
        if d is None:
            break
        value = (value * base + d) & U64
        pos += 1
    return value, pos


def memparse(text: str, pos: int = 0) -> tuple[int, int]:
    """The kernel's memparse(): a number plus an optional K/M/G/T/P/E suffix."""
    value, end = simple_strtoull(text, pos, 0)
    if end < len(text) and text[end].lower() in _SUFFIX_SHIFT:
        value = (value << _SUFFIX_SHIFT[text[end].lower()]) & U64
        end += 1
    return value, end


def octal_trap(text: str, pos: int = 0) -> str | None:
    """Explain the octal reading of a leading-zero number, or None if it is not one."""
    if text[pos : pos + 1] != "0" or text[pos + 1 : pos + 2] in ("", "x", "X"):
        return None
    j = pos + 1
    while j < len(text) and text[j].isdigit():
        j += 1
    if j == pos + 1:
        return None
    value, end = memparse(text, pos)
    return (
        f"{text[pos:j]!r} starts with 0, so the kernel's memparse reads it as octal: "
        f"{text[pos:end]!r} = {value} bytes"
        + (f" and stops at {text[end:]!r}" if end < len(text) else "")
        + f"; write {text[pos:j].lstrip('0') or '0'}{text[j : j + 1] if j < len(text) else ''}"
        " or use 0x for hex"
    )


def parse_param_size(
    param: str, value: str, *, what: str = "size", allow_zero: bool = False
) -> int:
    """Strictly parse a whole memparse() value for `param`; CmdlineError names the parameter."""
    if value == "":
        raise CmdlineError(
            f"{param}=: empty {what}, expected a number like 248M, 250000K or 0xF800000"
        )
    trap = octal_trap(value)
    n, end = memparse(value)
    if trap is not None and (end != len(value) or any(c in "89" for c in value)):
        raise CmdlineError(f"{param}={value}: {trap}")
    if end == 0:
        raise CmdlineError(
            f"{param}={value}: {what} {value!r} is not a number "
            "(decimal, 0x hex or 0-prefixed octal, optional K/M/G/T/P/E)"
        )
    if end != len(value):
        raise CmdlineError(
            f"{param}={value}: unexpected {value[end:]!r} after {what} "
            f"{value[:end]!r} (= {n:#x} bytes); the suffix must be one of K M G T P E"
        )
    if n == 0 and not allow_zero:
        raise CmdlineError(f"{param}={value}: {what} is 0")
    return n
