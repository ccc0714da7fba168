"""Pictures that tell the truth: every carve-out drawn at its address, kinds labelled, and
memcheck's model/kernel picture marking exactly where they differ."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace as Node

import pytest

from driverkit.mem import plan
from driverkit.mem.svg import render_compare

NS = "{http://www.w3.org/2000/svg}"


def _svg(text: str):
    root = ET.fromstring(text)
    rects = [r.attrib for r in root.iter(f"{NS}rect")]
    texts = [(t.attrib, "".join(t.itertext())) for t in root.iter(f"{NS}text")]
    return rects, texts


def _address_y(texts) -> dict[int, float]:
    out = {}
    for attrib, text in texts:
        if attrib.get("text-anchor") == "end" and text.startswith("0x"):
            out[int(text, 16)] = float(attrib["y"]) - 4
    return out


@pytest.mark.parametrize("memory, cmdline", [("512M", "mem=248M crashkernel=64M"),
                                             ("1G", "crashkernel=128M")])
def test_memplan_svg_draws_carveouts_at_their_addresses(memory, cmdline):
    mp = plan(machine="q35", memory=memory, cmdline=cmdline)
    rects, texts = _svg(mp.to_svg())
    at = _address_y(texts)
    crash = [c for c in mp.state.carveouts if c.name == "Crash kernel"][0]
    # the carve-out starts and ends on address marks of its own...
    assert crash.start in at and crash.start + crash.size in at
    box = [r for r in rects if r.get("fill") == "#ff8c8c"
           and abs(float(r["y"]) - at[crash.start]) < 0.2]
    assert box, "no carve-out box at the crash kernel's address"
    h = float(box[0]["height"])
    assert abs(float(box[0]["y"]) + h - at[crash.start + crash.size]) < 0.2
    # ...and lies inside the System RAM band that holds it, below the kernel image
    code = [t for a, t in texts if t.startswith("Kernel code")]
    assert code and at[crash.start] > min(y for a, y in at.items() if a >= 0x100000)
    legend = {t for a, t in texts}
    assert {"RAM", "kernel image", "firmware", "carve-out", "hole"} <= legend


def test_compare_marks_only_where_model_and_kernel_differ():
    # pure logic on hand-made trees (labelled fakes): RAM ends early in the kernel's map
    ram = Node(start=0x1000, end=0x7FFFFFF, name="System RAM", children=[])
    short = Node(start=0x1000, end=0x5FFFFFF, name="System RAM", children=[])
    rsvd = Node(start=0x6000000, end=0x7FFFFFF, name="Reserved", children=[])
    crash = Node(name="Crash kernel", start=0x3000000, size=0x1000000)
    same = Node(name="crashkernel", start=0x3000000, size=0x1000000)
    rects, texts = _svg(render_compare("t", [ram], [crash], [short, rsvd], [same]))
    marks = [t for a, t in texts if t.startswith("differ:")]
    assert marks == ["differ: model System RAM / kernel Reserved"]
    red = [r for r in rects if r.get("fill") == "#d00"]
    at = _address_y(texts)
    assert red and abs(float(red[0]["y"]) - at[0x6000000]) < 0.2
    _, texts = _svg(render_compare("t", [ram], [crash], [ram], [same]))
    assert not [t for a, t in texts if t.startswith("differ:")]
    assert any("model and kernel agree" in t for a, t in texts)


def test_memcheck_svg_agrees_with_its_verdict(cli, tmp_path):
    out = tmp_path / "mc.svg"
    r = cli("memcheck", "--memory", "512M", "--cmdline", "crashkernel=64M", "--svg", str(out),
            timeout=300)
    assert r.returncode in (0, 1), r.stderr
    rects, texts = _svg(out.read_text())
    marks = [t for a, t in texts if t.startswith("differ:")]
    heads = [t for a, t in texts if a.get("font-weight") == "bold"]
    assert heads[:2] == ["model /proc/iomem", "kernel /proc/iomem"]
    assert any(t.startswith("Kernel code") for a, t in texts)
    if r.returncode == 0:
        assert not marks
