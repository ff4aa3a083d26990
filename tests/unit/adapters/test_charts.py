"""The reconciliation report's files: a PNG chart, a CSV of the differences, the JSON."""

from __future__ import annotations

import json
import stat
from datetime import date
from pathlib import Path

from PIL import Image

from facepay.adapters.charts import reconciliation_csv, write_report_files
from facepay.supervision.reconciliation import Entry, Reconciliation, compare


def _report() -> Reconciliation:
    ours = [
        Entry("S1", "payment", {"medfee_sumamt": 1_000}),
        Entry("S2", "payment", {"medfee_sumamt": 50}),
    ]
    theirs = [Entry("S1", "payment", {"medfee_sumamt": 900})]
    return Reconciliation("hos_1", date(2026, 12, 1), (compare("platform", ours, theirs),))


def test_the_files_are_a_chart_a_csv_and_the_json(tmp_path: Path) -> None:
    paths = write_report_files(_report(), tmp_path / "out", stem="reconcile-2026-12-01")
    assert [p.suffix for p in paths] == [".json", ".csv", ".png"]
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with Image.open(paths[2]) as chart:
        assert chart.format == "PNG"
        assert chart.size == (800, 360)
    assert json.loads(paths[0].read_text())["differences"] == 2
    rows = paths[1].read_text().splitlines()
    assert rows[0].startswith("date,hospital_id,side,kind,key")
    assert len(rows) == 3


def test_a_day_that_agrees_is_a_header_only() -> None:
    same = [Entry("S1", "payment", {"medfee_sumamt": 1})]
    report = Reconciliation("hos_1", date(2026, 12, 1), (compare("his", same, same),))
    assert reconciliation_csv(report).count("\n") == 1
