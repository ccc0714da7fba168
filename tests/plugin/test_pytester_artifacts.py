"""The plugin seen through pytest's own pytester: a failing test in a subprocess leaves artifacts."""

from __future__ import annotations

import json


def test_failing_test_in_pytester_subprocess_leaves_its_artifacts(pytester):
    pytester.makepyfile(
        test_user="""
        import pytest

        @pytest.mark.machine(devices=["edu"])
        async def test_reads_wrong_id(machine):
            dev = machine.pci.find(vendor=0x1234, device=0x11E8)
            dev.enable()
            assert dev.iomap(0).readl(0) == 0x12345678

        async def test_fine(machine):
            assert machine.ioremap(0xFED00000, 8).readl(0) == 0x8086A201
        """
    )
    art = pytester.path / "art"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--driverkit-artifacts", str(art))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*assert 16777453 == 305419896*", "*driverkit artifacts*"])
    (folder,) = art.iterdir()
    assert folder.name == "test_user.py__test_reads_wrong_id"
    assert "-device edu" in (folder / "cmdline").read_text()
    events = [json.loads(x) for x in (folder / "trace.jsonl").read_text().splitlines()[1:]]
    assert events[-1]["op"] == "read" and events[-1]["value"] == 0x010000ED
    assert "0000:00:01.0" in (folder / "iomem.txt").read_text()
