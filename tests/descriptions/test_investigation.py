"""The whole investigation a driver developer does, in one session from the shell, scripted with
--json: start a board, lspci/setpci, peek/poke/dump, decode the device from its description,
stop. (The arm boards' vendor-SVD version is in test_svd_boards.py.)"""

from __future__ import annotations

import base64


def test_edu_investigation_in_one_session(cli, edu_rdl):
    st = cli.json("start", "--name", "inv", "--device", "edu")
    assert st["state"] == "running"
    s = ("--session", "inv")
    devs = cli.json("lspci", "-v", *s)["devices"]
    edu = [d for d in devs if (d["vendor"], d["device"]) == (0x1234, 0x11E8)][0]
    bdf, bar0 = edu["address"], edu["bars"][0]["address"]
    assert edu["class_name"] == "Unclassified device [00ff]" and edu["irq"] is not None
    # memory decoding is off until someone turns it on: do it the pciutils way
    cmd = cli.json("setpci", "-s", bdf, "COMMAND", *s)["ops"][0]["value"]
    assert cmd & 2 == 0
    cli.json("setpci", "-s", bdf, "COMMAND=2:2", *s)
    assert cli.json("setpci", "-s", bdf, "COMMAND", *s)["ops"][0]["value"] & 2
    assert cli.json("peek", hex(bar0), *s)["value"] == 0x010000ED
    live = cli.json("poke", hex(bar0 + 4), "0x12345678", *s)
    assert live["value"] == 0xEDCBA987 and live["readback_matches"] is False  # edu inverts
    dump = cli.json("dump", hex(bar0), "16", "--width", "32", *s)
    assert base64.b64decode(dump["data"])[:8] == bytes.fromhex("ed00000187a9cbed")
    regs = cli.json("regs", "--rdl", str(edu_rdl), "--bdf", bdf, *s)
    values = {r["name"]: r.get("value") for r in regs["registers"]}
    assert values["id"] == 0x010000ED and values["liveness"] == 0xEDCBA987
    assert cli.json("stop", "inv")["stopped"] == "stopped"
    assert not (cli.session_dir / "inv").exists()
