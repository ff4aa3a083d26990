"""`facepay demo --only-day --json`: the day's report on stdout is JSON that proves its money,
and its outage (a terminal agent behind a cut network) agrees with the server voucher by
voucher."""

from __future__ import annotations

import json
from typing import Any

import pytest

from facepay.adapters.interchange import shipped_policies
from facepay.demo.process import run_cli
from facepay.demo.recompute import recompute_all


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of the day, with its outage."""
    data = tmp_path_factory.mktemp("demo-day") / "data"
    done = run_cli(["demo", "--only-day", "--json", "--data", str(data)], env={})
    assert done.returncode == 0, done.stderr[-2_000:]
    body: dict[str, Any] = json.loads(done.stdout)  # nothing but the report on stdout
    body["stderr"] = done.stderr
    return body


def test_the_day_report_is_json_on_stdout_and_recomputes(report: dict[str, Any]) -> None:
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
    assert "every fen matches" in report["stderr"]


def test_the_outage_pays_offline_syncs_and_agrees(report: dict[str, Any]) -> None:
    outage = report["day"]["outage"]
    assert outage["agree"] is True, outage["disagreements"]
    assert [p["mode"] for p in outage["payments"]] == ["online", "offline", "offline", "offline"]
    offline = outage["payments"][1:]
    assert [p["counter"] for p in offline] == [1, 2, 3]
    assert all(p["provisional"] and "provisional" in p["message"] for p in offline)
    assert outage["while_offline"]["mode"] == "offline"
    assert outage["while_offline"]["outbox"]["depth"] == 3
    assert outage["after_sync"]["mode"] == "online"
    assert outage["after_sync"]["outbox"] == {"depth": 0, "pending": 0, "held": 0, "synced": 3}
    # Agent and server, voucher by voucher, checked here again rather than trusted.
    server = {v["id"]: v for v in outage["server"]}
    assert set(server) == {p["voucher_id"] for p in offline}
    for row in outage["sync"]:
        theirs = server[row["voucher_id"]]
        assert (row["status"], row["settlement_id"], row["difference"]) == (
            theirs["status"],
            theirs["settlement_id"],
            theirs["difference"],
        )
        assert theirs["status"] == "posted"
    differences = [server[p["voucher_id"]]["difference"] for p in offline]
    # Only the last voucher runs out of personal account (the lobby took 100 yuan meanwhile).
    assert differences == [
        {"kind": "none", "amount_fen": 0},
        {"kind": "none", "amount_fen": 0},
        {"kind": "arrears", "amount_fen": 9_000},
    ]
    assert outage["arrears_fen"] == 9_000
    (notice,) = outage["notices"]
    assert (notice["kind"], notice["amount_fen"]) == ("arrears", 9_000)
    assert "90.00" in notice["message"]
    assert set(outage["bills"].values()) == {"paid"}
    # The vouchers' authoritative settlements are the day's, and recompute to the fen.
    settled = {s["id"] for s in report["day"]["settlements"]}
    assert {v["settlement_id"] for v in outage["server"]} <= settled
    assert "agent and server agree voucher by voucher" in report["stderr"]
