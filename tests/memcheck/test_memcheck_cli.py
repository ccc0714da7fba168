"""`driverkit memcheck`: exit status 0 / 1 / 2, --json shape, progress on stderr.

Bad input is refused before QEMU starts (exit 2). The agree and disagree paths each boot
the real guest once; the disagreement is made by handing the comparison a plan for another
command line (the model is pure Python; QEMU and the guest stay real).
"""

from __future__ import annotations

import json

import pytest

from driverkit.cli import main
from driverkit.errors import ArtifactMissing, ConfigError
from driverkit.guest import GuestArtifacts
from driverkit.guest import memcheck as memcheck_module
from driverkit.guest.memcheck import parse_probes


@pytest.fixture
def guest_built():
    try:
        GuestArtifacts.locate()
    except ArtifactMissing as exc:
        pytest.skip(f"Linux guest not built: {exc}")


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--cmdline", "mem=0248M"], "octal"),
        (["--probe", "0xF800000"], "START:SIZE"),
        (["--probe", "0xF800000:0"], "size > 0"),
        (["--memory", "lots"], "memory"),
        (["--arch", "aarch64", "--machine", "q35"], "boots on virt"),
        (["--device", "edu"], "--device"),
        (["--firmware", "/tmp/fw.bin"], "SeaBIOS"),
        (["--timeout", "0"], "--timeout"),
    ],
)
def test_bad_input_exits_2_without_booting(argv, says, capsys):
    assert main(["memcheck", *argv]) == 2
    err = capsys.readouterr().err
    assert says in err and "booting" not in err


def test_parse_probes_sizes_and_errors():
    assert parse_probes(["0xF800000:8M", (0x1000, "4K"), "4096:0x1000"]) == [
        (0xF800000, 8 << 20), (0x1000, 0x1000), (0x1000, 0x1000)]
    with pytest.raises(ConfigError, match="start 'zz'"):
        parse_probes(["zz:4K"])


def test_agreement_exits_0_with_json(guest_built, capsys):
    rc = main(["memcheck", "--machine", "pc", "--memory", "256M", "--cmdline", "mem=248M",
               "--probe", "0xF800000:8M", "--probe", "0xF800000:0x7E0000", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, out
    doc = json.loads(out)
    assert doc["verdict"] == "agree" and doc["agree"] is True and doc["differing_rows"] == 0
    assert doc["model"]["memory_total_kb"] == doc["kernel"]["memory_total_kb"] == 253560
    assert set(doc["model"]) >= {"iomem", "memory_total_kb", "carveouts", "limits", "probes"}
    assert [(p["ioremap"], p["request"]) for p in doc["kernel"]["probes"]] == [
        ("fail", "ebusy"), ("ok", "ebusy")]
    rows = {(r["section"], r["key"]): r for r in doc["rows"]}
    assert rows[("iomem", "0f800000-0ffdffff : RAM buffer")]["verdict"] == "agree"
    assert rows[("limits", "vmalloc_max")]["counted"] is False
    assert rows[("memory", "Y")]["counted"] is True
    assert "booting the Linux guest" in err and "guest reported after" in err


def test_disagreement_exits_1_and_names_the_rows(guest_built, capsys, monkeypatch):
    real = memcheck_module.model_for

    def wrong_after_boot(machine, memory, cmdline, probes, artifacts, **kw):
        # the check before the boot sees the real command line; the comparison does not
        if kw.get("kernel_at") is not None:
            cmdline = "mem=240M"
        return real(machine, memory, cmdline, probes, artifacts, **kw)

    monkeypatch.setattr(memcheck_module, "model_for", wrong_after_boot)
    rc = main(["memcheck", "--machine", "pc", "--memory", "256M", "--cmdline", "mem=248M"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "verdict: DIFFER" in out
    assert "memory: Y: model 'Y = 245368K', kernel 'Y = 253560K'" in out


def test_kernel_option_picks_a_built_guest_or_says_how_to_build_it(tmp_path, capsys):
    assert main(["memcheck", "--kernel", "9.9.9-1-cloud-amd64"]) == 2
    err = capsys.readouterr().err
    assert "no x86_64 guest for kernel 9.9.9-1-cloud-amd64" in err
    assert "scripts/build-guest 9.9.9-1-cloud-amd64" in err and "booting" not in err
    junk = tmp_path / "vmlinuz"
    junk.write_text("not a kernel\n")
    assert main(["memcheck", "--kernel", str(junk)]) == 2
    assert f"{junk}: not a kernel image" in capsys.readouterr().err


def test_kernel_option_by_image_finds_its_guest(guest_built):
    from driverkit.cli.memcheck import guest_for

    for release in GuestArtifacts.releases():
        art = GuestArtifacts.locate(release=release)
        assert guest_for(str(art.kernel)).kernel_release == release
        assert guest_for(release).root == art.root
