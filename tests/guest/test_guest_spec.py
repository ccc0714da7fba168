"""GuestArtifacts, linux_guest_spec and the pattern helper: pure, no QEMU."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from driverkit.errors import ArtifactMissing, CmdlineError, ConfigError
from driverkit.guest import GuestArtifacts, cache_dir, linux_guest_spec, pattern_bytes, pattern_word
from driverkit.guest.artifacts import ARM64_FILES, GUEST_FILES


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache dir holding stand-in guest files (MachineSpec only checks that they exist)."""
    guest = tmp_path / "guest"
    guest.mkdir()
    for name in GUEST_FILES:
        (guest / name).write_text("stand-in\n")
    (guest / "manifest.json").write_text(json.dumps({"kernel_release": "6.1.0-56-cloud-amd64"}))
    (guest / "config").write_text(
        '# CONFIG_CMA is not set\nCONFIG_X86_PMEM_LEGACY=m\nCONFIG_LOCALVERSION=""\n'
    )
    monkeypatch.setenv("DRIVERKIT_CACHE", str(tmp_path))
    return tmp_path


def test_cache_dir_follows_environment(cache):
    assert cache_dir() == cache
    art = GuestArtifacts.locate()
    assert art.kernel == cache / "guest" / "vmlinuz"
    assert art.initrd.name == "initramfs.cpio.gz"
    assert art.kernel_release == "6.1.0-56-cloud-amd64"
    assert art.kernel_config() == {"CONFIG_X86_PMEM_LEGACY": "m", "CONFIG_LOCALVERSION": ""}


def test_missing_artifacts_name_the_fix(tmp_path):
    (tmp_path / "guest").mkdir()
    (tmp_path / "guest" / "vmlinuz").write_text("x")
    with pytest.raises(ArtifactMissing, match=r"initramfs.cpio.gz.*scripts/build-guest"):
        GuestArtifacts.locate(tmp_path)


def test_spec_defaults(cache):
    spec = linux_guest_spec()
    assert spec.firmware == "seabios" and spec.machine == "pc" and spec.arch == "x86_64"
    assert spec.memory_bytes == 256 << 20 and spec.shared_ram
    assert spec.kernel.endswith("vmlinuz") and spec.initrd.endswith("initramfs.cpio.gz")
    assert spec.append == "console=ttyS0 panic=-1 no_timer_check"


def test_spec_cmdline_probes_and_params(cache):
    spec = linux_guest_spec("mem=248M  ", memory="512M", machine="q35",
                            probes=[(0xF800000, 0x800000), "0xf800000:0x7e0000"],
                            probe_params={"pattern": "0xf800000:0x1000", "seed": 7},
                            devices=["edu"])
    assert spec.append == ("console=ttyS0 panic=-1 no_timer_check mem=248M "
                           "dkprobe.ranges=0xf800000:0x800000,0xf800000:0x7e0000 "
                           "dkprobe.pattern=0xf800000:0x1000 dkprobe.seed=7")
    assert spec.machine == "q35" and spec.devices == ("edu",) and spec.memory_bytes == 512 << 20


@pytest.mark.parametrize("probe, why", [
    ("0xf800000", "not START:SIZE"),
    ("zz:1", "not START:SIZE"),
    ((0x1000, 0), "empty"),
    ((-1, 4), "negative"),
    (((1 << 64) - 4096, 8192), "beyond 64 bits"),
    ((1, 2, 3), "not a .start, size. pair"),
])
def test_bad_probe_ranges(cache, probe, why):
    with pytest.raises(ConfigError, match=why):
        linux_guest_spec(probes=[probe])


def test_limits_are_refused_with_numbers(cache):
    with pytest.raises(ConfigError, match="at most 16 ranges, got 17"):
        linux_guest_spec(probes=[(i << 12, 4096) for i in range(17)])
    with pytest.raises(ConfigError, match=r"2100 bytes; the x86 limit is 2047"):
        linux_guest_spec("x" * (2100 - len("console=ttyS0 panic=-1 no_timer_check ")))
    with pytest.raises(ConfigError, match="without spaces"):
        linux_guest_spec(probe_params={"pattern": "a b"})
    with pytest.raises(ConfigError, match="x86_64 and aarch64, not 'riscv64'"):
        linux_guest_spec(arch="riscv64")
    with pytest.raises(ConfigError, match="one line"):
        linux_guest_spec("mem=248M\nquiet")


def test_spec_without_artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIVERKIT_CACHE", str(tmp_path))
    with pytest.raises(ArtifactMissing, match="scripts/build-guest"):
        linux_guest_spec()


def test_pattern_words():
    # (0xf800000 >> 2) * 0x9E3779B1 mod 2**32; the boot test checks the guest writes the same
    assert pattern_word(0xF800000, 0) == 0x8DE00000
    assert pattern_word(0, 0x5EED1234) == 0x5EED1234
    data = pattern_bytes(0x1000, 16, seed=1)
    assert len(data) == 16
    assert int.from_bytes(data[4:8], "little") == pattern_word(0x1004, 1)
    with pytest.raises(ConfigError, match="4-byte aligned"):
        pattern_bytes(0x1002, 16)


@pytest.fixture
def arm64_cache(cache):
    """Stand-in arm64 guest files beside the x86 ones; `probe` says whether dkprobe was built."""
    guest = cache / "guest-aarch64"
    guest.mkdir()
    for name in ARM64_FILES:
        (guest / name).write_text("stand-in\n")

    def manifest(probe: bool) -> None:
        (guest / "manifest.json").write_text(json.dumps({
            "arch": "aarch64", "kernel_release": "6.1.0-57-cloud-arm64", "dkprobe": probe,
            "dkprobe_missing_reason": "" if probe else "no cross compiler"}))
        if probe:
            (guest / "dkprobe.ko").write_text("stand-in\n")
        else:
            (guest / "dkprobe.ko").unlink(missing_ok=True)
    manifest(True)
    return guest, manifest


def test_arm64_spec_boots_virt_without_firmware(arm64_cache, tmp_path):
    guest, _ = arm64_cache
    spec = linux_guest_spec("mem=200M cma=32M", arch="aarch64", probes=["0x50000000:4K"])
    assert (spec.arch, spec.machine, spec.firmware) == ("aarch64", "virt", "direct")
    assert spec.kernel == str(guest / "vmlinuz")
    assert spec.append == ("console=ttyAMA0 panic=-1 mem=200M cma=32M "
                           "dkprobe.ranges=0x50000000:0x1000")
    dtb = tmp_path / "virt.dtb"
    dtb.write_bytes(b"stand-in")
    spec = linux_guest_spec(arch="aarch64", dtb=dtb, extra_args=["-smp", "1"])
    assert spec.extra_args == ("-dtb", str(dtb), "-smp", "1")


def test_arm64_spec_refuses_what_arm64_lacks(arm64_cache, tmp_path):
    _, manifest = arm64_cache
    with pytest.raises(CmdlineError, match="arm64 has no memmap="):
        linux_guest_spec("memmap=16M$0x4f000000", arch="aarch64")
    with pytest.raises(ConfigError, match="does not exist"):
        linux_guest_spec(arch="aarch64", dtb=tmp_path / "nope.dtb")
    with pytest.raises(ConfigError, match="for the aarch64 guest"):
        linux_guest_spec(dtb=tmp_path / "nope.dtb")
    manifest(False)
    assert linux_guest_spec(arch="aarch64").append.endswith("dk.probe=0")
    with pytest.raises(ConfigError, match="no dkprobe: no cross compiler"):
        linux_guest_spec(arch="aarch64", probes=["0x50000000:4K"])


def test_arm64_artifacts_missing_names_the_arch(tmp_path):
    with pytest.raises(ArtifactMissing, match=r"aarch64 Linux guest artifacts missing.*guest-aarch64"):
        GuestArtifacts.locate(tmp_path, arch="aarch64")


def test_build_guest_refuses_an_unknown_kernel_name(tmp_path):

    script = Path(__file__).resolve().parents[2] / "scripts" / "build-guest"
    run = subprocess.run([str(script), "linux-9"], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "DRIVERKIT_CACHE": str(tmp_path)})
    assert run.returncode != 0
    assert "kernel 'linux-9': expected a release (6.1.0-47-cloud-amd64), an ABI" in run.stderr
    assert GuestArtifacts.releases(tmp_path) == []


def test_releases_lists_the_kernels_built_side_by_side(tmp_path):
    for rel, probe in (("6.1.0-47-cloud-amd64", True), ("6.12.117+deb13-cloud-amd64", False)):
        d = tmp_path / "guest" / rel
        d.mkdir(parents=True)
        for name in ("vmlinuz", "initramfs.cpio.gz", "config") + (("dkprobe.ko",) if probe else ()):
            (d / name).write_text("stand-in\n")
        (d / "manifest.json").write_text(json.dumps({
            "kernel_release": rel, "dkprobe": probe,
            "dkprobe_missing_reason": "" if probe else "needs gcc-14"}))
    (tmp_path / "guest" / "default").symlink_to("6.1.0-47-cloud-amd64")
    assert GuestArtifacts.releases(tmp_path) == ["6.1.0-47-cloud-amd64",
                                                 "6.12.117+deb13-cloud-amd64"]
    art = GuestArtifacts.locate(tmp_path, release="6.12.117+deb13-cloud-amd64")
    assert not art.has_probe and art.probe_missing_reason == "needs gcc-14"
    assert GuestArtifacts.locate(tmp_path, release="6.1.0-47-cloud-amd64").has_probe
    with pytest.raises(ArtifactMissing, match=r"no x86_64 guest for kernel 6.1.0-9.*built: "
                       r"6.1.0-47-cloud-amd64, 6.12.117\+deb13-cloud-amd64"):
        GuestArtifacts.locate(tmp_path, release="6.1.0-9-cloud-amd64")
