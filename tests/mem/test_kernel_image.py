"""The kernel description read from a real image (the built guest's vmlinuz), and bad input.

Bad images are made from the real one (cut, corrupted, with another compression magic);
the arm64 Image is a synthetic 64-byte header (a fake, labelled: only its magic is read).
"""

from __future__ import annotations

import json
import shutil
import struct

import pytest

from driverkit.errors import (
    ArtifactMissing,
    DriverkitError,
    KernelArchMismatch,
    KernelConfigMismatch,
    KernelImageCorrupt,
    KernelImageError,
    UnknownCompression,
)
from driverkit.guest import GuestArtifacts
from driverkit.mem import plan
from driverkit.mem.kernel import (
    BUNDLED_RELEASE,
    KernelDescription,
    bundled_kernel,
    read_kernel,
)
from driverkit.mem.kernel.layout import RESOURCE_NAMES


@pytest.fixture(scope="module")
def guest() -> GuestArtifacts:
    try:
        return GuestArtifacts.locate()
    except ArtifactMissing as exc:
        pytest.skip(f"Linux guest not built: {exc}")


@pytest.fixture
def image(guest, tmp_path):
    """A copy of the guest's vmlinuz with its config beside it, as in /boot."""
    rel = guest.kernel_release
    shutil.copy(guest.kernel, tmp_path / f"vmlinuz-{rel}")
    shutil.copy(guest.config, tmp_path / f"config-{rel}")
    return tmp_path / f"vmlinuz-{rel}"


def _payload(data: bytes) -> tuple[int, int]:
    offset, length = struct.unpack_from("<II", data, 0x248)
    start = (data[0x1F1] + 1) * 512 + offset
    return start, length


def test_the_guest_kernel_is_read_from_its_image(guest, image):
    kd = read_kernel(image)
    assert kd.release == guest.kernel_release
    assert kd.arch == "x86_64"
    cfg = guest.kernel_config()
    assert cfg.get(f"CONFIG_KERNEL_{kd.compression.upper()}") == "y"
    assert tuple(kd.layout.resources) == RESOURCE_NAMES
    spans = list(kd.layout.resources.values())
    assert spans[0][0] == 0 and all(a <= b for a, b in spans)
    assert all(b < c for (_, b), (c, _) in zip(spans, spans[1:]))  # in order, disjoint
    assert kd.layout.resources["Kernel bss"][1] + 1 == kd.layout.reserve_end <= kd.layout.end
    # what the kernel frees lies inside the image and outside code/rodata/data
    for a, b in kd.freed.values():
        assert 0 < a < b <= kd.layout.reserve_end
    assert kd.node_data_size % 4096 == 0 and kd.sizes["page"] == 64
    assert kd.config.version == kd.version


def test_plan_models_the_kernel_it_is_given(image):
    kd = read_kernel(image)
    p = plan("pc", "512M", "", kernel=image, kernel_at=0x1000000)
    assert p.kernel == kd
    code = [ln for ln in p.iomem_text().splitlines() if ln.endswith("Kernel code")]
    a, b = kd.layout.resources["Kernel code"]
    assert code == [f"  {0x1000000 + a:08x}-{0x1000000 + b:08x} : Kernel code"]
    assert p.to_dict()["kernel"] == {"release": kd.release, "source": str(image)}
    assert plan("pc", "512M", "", kernel=kd).iomem_text() == plan(
        "pc", "512M", "", kernel=str(image)).iomem_text()


def test_the_bundled_description_is_one_named_build():
    kd = bundled_kernel()
    assert kd.release == BUNDLED_RELEASE
    assert "bundled" in kd.source
    assert plan().kernel == kd
    again = KernelDescription.from_dict(json.loads(json.dumps(kd.to_dict())), kd.source)
    assert again == kd


def test_a_file_that_is_not_a_kernel(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello, not a kernel\n" * 100)
    with pytest.raises(KernelImageError, match=r"notes.txt: not a kernel image.*expected"):
        read_kernel(f)
    with pytest.raises(KernelImageError, match="No such file"):
        read_kernel(tmp_path / "missing")
    with pytest.raises(KernelImageError, match="not a file"):
        read_kernel(tmp_path)


def test_a_truncated_image(image):
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])
    with pytest.raises(KernelImageCorrupt, match=rf"{image.name}: .*truncated"):
        read_kernel(image)


def test_a_corrupt_payload(image):
    data = bytearray(image.read_bytes())
    start, length = _payload(data)
    mid = start + length // 2
    data[mid : mid + 4096] = bytes(4096)
    image.write_bytes(bytes(data))
    with pytest.raises(KernelImageCorrupt, match=rf"{image.name}: .*(decompress|bytes|ELF)"):
        read_kernel(image)


def test_an_unknown_compression(image):
    data = bytearray(image.read_bytes())
    start, _ = _payload(data)
    data[start : start + 6] = b"\x00\x11\x22\x33\x44\x55"
    image.write_bytes(bytes(data))
    with pytest.raises(UnknownCompression, match=rf"{image.name}: unknown compression "
                       r"\(first bytes 001122334455\).*expected an lz4, xz"):
        read_kernel(image)


def test_a_config_of_another_build(image, guest, tmp_path):
    text = guest.config.read_text()
    other = tmp_path / "config-other"
    lines = text.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("# Linux/"))
    lines[head] = "# Linux/x86 5.10.0 Kernel Configuration"
    other.write_text("\n".join(lines) + "\n")
    with pytest.raises(KernelConfigMismatch, match=r"config-other is the config of Linux "
                       r"5\.10\.0; .* is " + guest.kernel_release):
        read_kernel(image, other)
    lines[head] = "# Linux/arm64 5.10.0 Kernel Configuration"
    other.write_text("\n".join(lines) + "\n")
    with pytest.raises(KernelConfigMismatch, match="Linux/arm64 config.*x86_64 kernel"):
        read_kernel(image, other)
    kd = read_kernel(image)
    flavour = text.replace(f"CONFIG_KERNEL_{kd.compression.upper()}=y", "CONFIG_KERNEL_GZIP=y")
    other.write_text(flavour)
    with pytest.raises(KernelConfigMismatch, match="CONFIG_KERNEL_GZIP.*another build"):
        read_kernel(image, other)
    with pytest.raises(KernelConfigMismatch):  # plan() refuses it the same way
        plan(kernel=image, kernel_config=other)


def test_an_arm64_image_given_for_x86(tmp_path):
    # FAKE (labelled): an arm64 Image header (Documentation/arch/arm64/booting.rst), zeros
    # elsewhere; only its magic "ARM\x64" at 0x38 is looked at
    head = struct.pack("<II QQQ QQQ I I", 0x14000000, 0, 0x0, 0x1000000, 0xA, 0, 0, 0,
                       0x644D5241, 0)
    f = tmp_path / "Image"
    f.write_bytes(head + bytes(4096))
    with pytest.raises(KernelArchMismatch, match=r"Image is an arm64 kernel image; expected "
                       r"one for x86_64"):
        read_kernel(f)
    assert issubclass(KernelArchMismatch, DriverkitError)


def test_the_bundled_description_is_what_the_reader_reads_from_that_image():
    """The default data was written by this reader: reading the same build gives it again."""
    try:
        art = GuestArtifacts.locate(release=BUNDLED_RELEASE)
    except ArtifactMissing:
        pytest.skip(f"{BUNDLED_RELEASE} not built (scripts/build-guest {BUNDLED_RELEASE})")
    assert read_kernel(art.kernel).to_dict() == bundled_kernel().to_dict()
