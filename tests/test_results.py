"""driverkit.results: the verdict words, the row, the one table renderer, to_dict/to_json
(pure logic, no QEMU)."""

from __future__ import annotations

import json

from driverkit.results import JsonResult, Row, Verdict, overall, render_table


def test_verdict_words_and_what_counts():
    assert [v.value for v in Verdict] == ["agree", "partly", "differ", "info", "skipped"]
    assert [v for v in Verdict if v.counted] == [Verdict.AGREE, Verdict.PARTLY, Verdict.DIFFER]
    assert Verdict.of(True) is Verdict.AGREE and Verdict.of(False) is Verdict.DIFFER
    assert Verdict.DIFFER.shown == "DIFFER" and Verdict.AGREE.shown == "agree"
    assert json.dumps({"v": Verdict.PARTLY}) == '{"v": "partly"}'


def test_overall_verdict_is_the_worst_counted_row():
    base = [Verdict.AGREE, Verdict.INFO, Verdict.SKIPPED]
    assert overall(base) is Verdict.AGREE and overall([]) is Verdict.AGREE
    assert overall(base + [Verdict.PARTLY]) is Verdict.PARTLY
    assert overall(base + [Verdict.DIFFER, Verdict.PARTLY]) is Verdict.DIFFER


def test_row_to_dict_names_its_sides_as_the_report_does():
    row = Row("limits", "kmalloc_max", "4M", "4M", Verdict.AGREE, "note")
    assert row.to_dict(sides=("model", "kernel")) == {
        "section": "limits", "key": "kmalloc_max", "model": "4M", "kernel": "4M",
        "verdict": "agree", "counted": True, "note": "note"}
    assert Row("s", "k", None, None, Verdict.SKIPPED).to_dict()["counted"] is False


def test_table_aligns_columns_wraps_notes_and_breaks_long_rows():
    lines = render_table(("name", "value", "verdict"),
                         [("a", "1", "agree"), ("bbb", "22", "DIFFER"), ("c", "x" * 30, "info")],
                         notes=["", "why " * 30, ""], indent="  ", max_cell=20, wrap=40)
    assert lines[0] == "  name  value  verdict"
    assert lines[1] == "  a     1      agree"
    assert lines[2] == "  bbb   22     DIFFER"
    notes = lines[3:lines.index("  c")]
    assert notes and all(ln.startswith("      why") and len(ln) <= 40 for ln in notes)
    assert lines[-2:] == ["    value: " + "x" * 30, "    verdict: info"]


class _Result(JsonResult):
    def to_dict(self):
        return {"a": [1, 2], "b": None}


def test_to_json_is_to_dict_as_text():
    assert json.loads(_Result().to_json()) == _Result().to_dict()
    assert _Result().to_json(indent=None) == '{"a": [1, 2], "b": null}'
