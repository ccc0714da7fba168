"""Property tests (pure logic, no device): the precomputed-mask fast paths agree with construct."""

from __future__ import annotations

from construct import BitsInteger, BitStruct, ByteSwapped, Enum, Flag
from hypothesis import given, settings
from hypothesis import strategies as st

from driverkit.regs import shape_of


@st.composite
def bitfield_structs(draw):
    """A random 8/16/32/64-bit register as ByteSwapped(BitStruct) or a plain BitStruct."""
    width = draw(st.sampled_from([1, 2, 4, 8]))
    left = width * 8
    fields = []
    i = 0
    while left:
        n = draw(st.integers(1, min(left, 12)))
        kind = draw(st.sampled_from(["int", "flag", "enum", "signed"])) if n > 1 else "flag"
        name = f"f{i}" if draw(st.booleans()) or kind != "int" else f"_r{i}"
        if kind == "flag":
            sc = Flag
            n = 1
        elif kind == "enum":
            sc = Enum(BitsInteger(n), zero=0, one=1)
        else:
            sc = BitsInteger(n, signed=kind == "signed")
        fields.append(name / sc)
        left -= n
        i += 1
    swapped = draw(st.booleans())
    bs = BitStruct(*fields)
    return (ByteSwapped(bs) if swapped else bs), width


@settings(max_examples=60, deadline=None)
@given(bitfield_structs(), st.data())
def test_fast_decode_equals_construct_parse(spec, data):
    subcon, width = spec
    shape = shape_of(subcon)
    assert shape.width == width
    raw = data.draw(st.integers(0, (1 << (8 * width)) - 1))
    mem = raw.to_bytes(width, "little")
    logical = int.from_bytes(mem, shape.byteorder)
    assert shape.decode(logical) == subcon.parse(mem)
    # and building the parsed fields back through the masks gives the same bytes
    parsed = subcon.parse(mem)
    rebuilt = shape.encode_fields(dict(parsed))
    assert rebuilt.to_bytes(width, shape.byteorder) == subcon.build(parsed) == mem


@settings(max_examples=40, deadline=None)
@given(bitfield_structs(), st.data())
def test_masks_partition_the_register(spec, data):
    subcon, width = spec
    shape = shape_of(subcon)
    total = 0
    for f in shape.fields:
        assert total & f.mask == 0
        total |= f.mask
    assert total == (1 << (8 * width)) - 1
