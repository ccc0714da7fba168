"""Drivers through the entry-point group, and `driverkit regs` / `driverkit check`."""

from __future__ import annotations

import json

import pytest

from driverkit.cli import main
from driverkit.drivers import Driver, merge_devices, registry
from driverkit.errors import ConfigError, UnknownDriver
from driverkit.regs import RegisterMap

ALL = ["edu", "fw_cfg", "hpet", "isa_debug_exit", "pci_testdev", "pl011", "pl031",
       "cmsdk_timer", "cmsdk_uart", "nrf51_timer", "nrf51_gpio", "mc146818", "tco"]


def test_every_driver_is_registered_and_declares_its_machine():
    assert set(ALL) <= set(registry.names())
    for name in ALL:
        cls = registry.load(name)
        assert issubclass(cls, Driver) and cls.name == name
        assert issubclass(cls.Regs, RegisterMap)
        spec = cls.machine_spec()
        assert spec.arch == cls.needs.arch
        assert set(cls.needs.devices) <= set(spec.devices)
    assert registry.load("pci-testdev").name == "pci_testdev"


def test_unknown_driver_and_conflicting_arch_are_refused():
    with pytest.raises(UnknownDriver, match="no driver 'nosuch'.*edu"):
        registry.load("nosuch")
    with pytest.raises(ConfigError, match="needs arch 'aarch64'"):
        registry.load("pl011").machine_spec(arch="x86_64")


def test_user_devices_win_over_the_drivers():
    assert merge_devices(["edu,addr=5"], ("edu",)) == ("edu,addr=5",)
    assert merge_devices([], ("edu",)) == ("edu",)


def test_cli_check_edu_holds(capsys):
    assert main(["check", "edu"]) == 0
    out = capsys.readouterr().out
    assert "EduRegs layout check" in out and out.splitlines()[0].endswith("agree")


def test_cli_check_json_and_regs_on_arm(capsys):
    assert main(["check", "pl031", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["device"] == "pl031" and data["info"]["part"] == 0x031
    assert main(["regs", "pl011", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by = {r["name"]: r for r in data["registers"]}
    assert by["fr"]["value"] == 0x90 and by["fr"]["fields"]["txfe"] is True


def test_cli_regs_edu_with_machine_options(capsys):
    assert main(["regs", "edu", "--device", "edu,addr=4", "--memory", "128M"]) == 0
    out = capsys.readouterr().out
    assert "00:04.0 BAR0" in out and "0x010000ed" in out


def test_cli_errors_exit_2(capsys):
    assert main(["check", "nosuch"]) == 2
    assert main(["check", "pl011", "--arch", "x86_64"]) == 2
    err = capsys.readouterr().err
    assert "no driver 'nosuch'" in err and "needs --arch aarch64" in err
