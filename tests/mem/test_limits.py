"""Runtime allocator limits; x86 6.1 figures measured in linux-memory.md (orders 0..10 ok,
11 fails; ksize 9->16, 65->96, 8193->16384, 131073->262144, 4 MiB ok, 4 MiB+1 fails;
dma_alloc_coherent 4 MiB ok, 8 MiB fails without CMA)."""

import pytest

from driverkit.errors import MemModelError
from driverkit.mem import KernelConfig, plan
from driverkit.mem.limits import kmalloc_size, max_page_order

M = 1 << 20


def test_debian_61_limits():
    lim = plan("pc", "256M").limits
    assert lim["gfp_max_order"] == 10 and lim["gfp_max_bytes"] == 4 * M
    assert lim["kmalloc_max"] == 4 * M and lim["kmalloc_max_cache_size"] == 8192
    assert lim["kmalloc_size_classes"] == [
        8,
        16,
        32,
        64,
        96,
        128,
        192,
        256,
        512,
        1024,
        2048,
        4096,
        8192,
    ]
    assert lim["dma_coherent_max"] == 4 * M and lim["cma_total"] == 0


@pytest.mark.parametrize(
    "n,usable",
    [
        (1, 8),
        (9, 16),
        (65, 96),
        (97, 128),
        (129, 192),
        (193, 256),
        (8193, 16384),
        (131073, 262144),
        (4 * M, 4 * M),
        (4 * M + 1, None),
        (8 * M, None),
        (0, None),
    ],
)
def test_ksize(n, usable):
    assert kmalloc_size(n) == usable


def test_max_order_semantics_across_versions():
    assert max_page_order(KernelConfig.load({"version": "6.1"})) == 10
    assert max_page_order(KernelConfig.load({"version": "6.12"})) == 10
    assert max_page_order(KernelConfig.load({"version": "6.1", "ARCH_FORCE_MAX_ORDER": "11"})) == 10
    assert (
        max_page_order(KernelConfig.load({"version": "6.12", "ARCH_FORCE_MAX_ORDER": "13"})) == 13
    )


def test_cma_raises_dma_coherent_max_only_when_the_kernel_has_it():
    no = plan("pc", "1G", "cma=64M")
    assert no.limits["cma_total"] == 0 and any("CONFIG_DMA_CMA" in w for w in no.warnings)
    cfg = {
        "DMA_CMA": True,
        "CMA": True,
        "KEXEC_CORE": True,
        "STRICT_DEVMEM": True,
        "IO_STRICT_DEVMEM": True,
        "PHYSICAL_START": "0x1000000",
    }
    yes = plan("pc", "1G", "cma=64M", kernel_config=cfg)
    cma = [c for c in yes.state.carveouts if c.name == "cma"]
    assert cma and cma[0].size == 64 * M and cma[0].start % (2 * M) == 0
    assert yes.limits["dma_coherent_max"] == 64 * M
    # with RAM above 4 GiB the area goes bottom-up from 4 GiB: no use to a 32-bit device
    big = plan("pc", "5G", "cma=64M", kernel_config=cfg)
    assert [c.start for c in big.state.carveouts if c.name == "cma"] == [1 << 32]
    assert (
        big.limits["dma_coherent_max"] == 4 * M and big.limits["dma_coherent_max_mask64"] == 64 * M
    )


def test_kernel_config_file(tmp_path):
    f = tmp_path / "config-6.1.0-56-cloud-amd64"
    f.write_text(
        "#\n# Linux/x86 6.1.192 Kernel Configuration\n#\nCONFIG_X86_64=y\n"
        "# CONFIG_CMA is not set\nCONFIG_STRICT_DEVMEM=y\n"
    )
    kc = KernelConfig.load(f)
    assert kc.version == (6, 1, 192) and kc.enabled("STRICT_DEVMEM") and not kc.enabled("CMA")
    p = plan("pc", "256M", "mem=248M", kernel_config=f, probes=[(0xF800000, 0x7E0000)])
    assert p.probes[0].devmem_mmap == "ok"  # IO_STRICT_DEVMEM unset in this config
    bad = tmp_path / "bad"
    bad.write_text("hello\n")
    with pytest.raises(MemModelError, match="not a kernel config"):
        KernelConfig.load(bad)
    with pytest.raises(MemModelError, match="No such file"):
        KernelConfig.load(tmp_path / "missing")
