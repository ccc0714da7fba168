"""GenPool: alloc/free with alignment, stats, leaks, and its refusals (plus a state machine)."""

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from driverkit.errors import OutOfMemory, PoolError
from driverkit.mem.pool import GenPool

BASE = 0xF800000


def test_alloc_align_free_and_stats():
    pool = GenPool(BASE, 0x7E0000, min_alloc_order=12)
    a = pool.alloc(100)
    assert a == BASE
    b = pool.alloc(0x10000, align=0x10000, owner="ring")
    assert b % 0x10000 == 0 and b >= BASE + 0x1000
    st_ = pool.stats()
    assert st_.used == 0x1000 + 0x10000 and st_.allocations == 2 and st_.free_blocks == 2
    assert 0 < st_.fragmentation < 1
    assert [(x.addr, x.owner) for x in pool.leaks()] == [(BASE, ""), (b, "ring")]
    pool.free(a)
    pool.free(b)
    assert pool.stats().free == 0x7E0000 and pool.stats().free_blocks == 1 and not pool.leaks()


def test_refusals_carry_the_numbers():
    pool = GenPool(0x1000, 0x4000, min_alloc_order=12, name="dma")
    a = pool.alloc(0x1000)
    pool.free(a)
    with pytest.raises(PoolError, match=r"dma: free of 0x1000: already free \(double free\?\)"):
        pool.free(a)
    with pytest.raises(PoolError, match=r"free of 0x9000: not in this pool \(0x1000-0x4fff\)"):
        pool.free(0x9000)
    b = pool.alloc(0x2000)
    with pytest.raises(
        PoolError, match=r"not the start of an allocation inside the allocation at 0x1000"
    ):
        pool.free(b + 0x1000)
    with pytest.raises(PoolError, match="allocated with 0x2000"):
        pool.free(b, 0x1000)
    with pytest.raises(
        OutOfMemory, match=r"cannot allocate 0x3000 bytes .* largest free block 0x2000"
    ):
        pool.alloc(0x3000)
    assert isinstance(OutOfMemory("x"), PoolError)
    with pytest.raises(PoolError, match="power of two"):
        pool.alloc(16, align=3)
    with pytest.raises(PoolError, match="positive"):
        pool.alloc(0)
    with pytest.raises(PoolError, match="granule"):
        GenPool(0x1001, 0x1000, min_alloc_order=12)
    with pytest.raises(PoolError, match="overlaps"):
        pool.add(0x4000, 0x2000)


def test_add_chunk():
    pool = GenPool(0x10000, 0x1000)
    pool.add(0x20000, 0x1000)
    assert pool.alloc(0x1000) == 0x10000 and pool.alloc(0x1000) == 0x20000
    with pytest.raises(OutOfMemory):
        pool.alloc(1)


class PoolMachine(RuleBasedStateMachine):
    """Random alloc/free never overlaps, never leaves the pool, and accounting adds up."""

    def __init__(self):
        super().__init__()
        self.pool = GenPool(0x100000, 0x40000, min_alloc_order=6)
        self.live: dict[int, int] = {}

    @rule(size=st.integers(1, 0x9000), align_shift=st.integers(0, 14))
    def alloc(self, size, align_shift):
        try:
            addr = self.pool.alloc(size, align=1 << align_shift)
        except OutOfMemory:
            st_ = self.pool.stats()
            need = -(-size // 64) * 64
            assert st_.largest_free < need or (1 << align_shift) > 64
            return
        assert addr % max(1 << align_shift, 64) == 0
        rounded = -(-size // 64) * 64
        assert 0x100000 <= addr and addr + rounded <= 0x140000
        for a, n in self.live.items():
            assert addr + rounded <= a or a + n <= addr
        self.live[addr] = rounded

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def free(self, data):
        addr = data.draw(st.sampled_from(sorted(self.live)))
        self.pool.free(addr)
        del self.live[addr]
        with pytest.raises(PoolError):
            self.pool.free(addr)

    @invariant()
    def accounting(self):
        st_ = self.pool.stats()
        assert st_.used == sum(self.live.values()) and st_.allocations == len(self.live)
        assert st_.used + st_.free == st_.total == 0x40000
        assert {a.addr for a in self.pool.leaks()} == set(self.live)


TestPoolMachine = PoolMachine.TestCase
