"""`facepay demo --only-day --json`: the day's report on stdout is JSON that proves its money."""

from __future__ import annotations

import json
from pathlib import Path

from facepay.adapters.interchange import shipped_policies
from facepay.demo.process import run_cli
from facepay.demo.recompute import recompute_all


def test_the_day_report_is_json_on_stdout_and_recomputes(tmp_path: Path) -> None:
    done = run_cli(["demo", "--only-day", "--json", "--data", str(tmp_path / "data")], env={})
    assert done.returncode == 0, done.stderr[-2_000:]
    report = json.loads(done.stdout)  # nothing but the report on stdout
    day = report["day"]
    assert set(day["flows"]) == {
        "appointments",
        "pharmacy_and_exams",
        "guardians",
        "inpatient",
        "emergency",
    }
    assert day["recomputed"] == recompute_all(day["settlements"], shipped_policies())
    assert day["recomputed"]["differences"] == []
    assert any(s["split"]["fund_pay_sumamt"] > 0 for s in day["settlements"])
    assert "every fen matches" in done.stderr
