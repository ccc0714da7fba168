"""memparse/simple_strtoull as lib/cmdline.c and lib/vsprintf.c define them."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driverkit.errors import CmdlineError
from driverkit.mem.memparse import U64, memparse, octal_trap, parse_param_size, simple_strtoull

SHIFTS = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}


@pytest.mark.parametrize(
    "text,value,end",
    [
        ("248M", 248 << 20, 4),
        ("250000K", 250000 << 10, 7),
        ("0xF800000", 0xF800000, 9),
        ("0xf800000m", 0xF800000 << 20, 10),
        ("1g", 1 << 30, 2),
        ("2E", 2 << 60, 2),
        ("0248M", 0o24, 3),  # the octal trap: stops at "8"
        ("010M", 8 << 20, 4),  # legal octal
        ("0x", 0, 1),  # "0x" without a hex digit: octal 0, stops at x
        ("12B", 12, 2),  # no B suffix
        ("-1", 0, 0),
        ("", 0, 0),
        ("16E", 0, 3),  # wraps at 64 bits
    ],
)
def test_memparse_examples(text, value, end):
    assert memparse(text) == (value, end)


@given(st.integers(0, (1 << 40) - 1), st.sampled_from(list(SHIFTS)), st.booleans())
def test_decimal_with_suffix(n, suffix, upper):
    s = str(n) + (suffix.upper() if upper else suffix)
    if s.startswith("0") and len(str(n)) > 1:
        return
    assert memparse(s) == ((n << SHIFTS[suffix]) & U64, len(s))


@given(st.integers(0, U64), st.sampled_from(["0x", "0X"]))
def test_hex_roundtrip(n, prefix):
    s = f"{prefix}{n:x}"
    assert simple_strtoull(s) == (n, len(s))


@given(st.integers(1, 1 << 40))
def test_octal_is_octal(n):
    s = "0" + format(n, "o")
    assert memparse(s) == (n, len(s))


@given(st.text(alphabet="0123456789abcdefxXkKmMgG@$#!,", max_size=12))
def test_memparse_never_overruns(s):
    value, end = memparse(s)
    assert 0 <= value <= U64 and 0 <= end <= len(s)
    # the parsed prefix parses to the same value on its own
    assert memparse(s[:end]) == (value, end)


def test_octal_trap_explained():
    msg = octal_trap("0248M")
    assert "octal" in msg and "20 bytes" in msg and "'8M'" in msg
    assert octal_trap("248M") is None and octal_trap("0x10") is None and octal_trap("0") is None


def test_strict_param_errors_name_the_parameter():
    with pytest.raises(CmdlineError, match=r"^mem=foo: .*not a number"):
        parse_param_size("mem", "foo")
    with pytest.raises(CmdlineError, match=r"^mem=248MB: unexpected 'B'"):
        parse_param_size("mem", "248MB")
    with pytest.raises(CmdlineError, match=r"^mem=0248M: .*octal"):
        parse_param_size("mem", "0248M")
    with pytest.raises(CmdlineError, match=r"^mem=0: .*is 0"):
        parse_param_size("mem", "0")
    with pytest.raises(CmdlineError, match="empty"):
        parse_param_size("mem", "")
    assert parse_param_size("mem", "010M") == 8 << 20
