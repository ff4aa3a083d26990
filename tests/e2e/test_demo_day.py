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


def test_the_his_day_agrees_then_shows_exactly_the_lost_and_the_altered(
    report: dict[str, Any],
) -> None:
    """The demo HIS's day on its own server and simulated national platform, checked here
    from the report's raw rows rather than from the walk's own verdict."""
    his = report["day"]["his"]
    assert his["as_expected"] is True, his["problems"]
    assert his["register"]["ack"] == "AA"
    clean, faulty = his["clean"], his["faulty"]
    for night in (clean, faulty):
        assert night["comparisons"]["platform"]["agrees"] is True
        paid = {p["ref"]: p for p in night["payments"]}
        assert all(p["decision"] == "match" for p in paid.values())  # by face, every one
        for charge in night["charges"]:
            heard = charge["heard"]
            if charge["bill_id"] is None:
                assert heard == {}
            else:  # told on both channels, of what facepay settled
                total = paid[charge["ref"]]["total_fen"]
                assert heard == {"mllp": total, "fhir": total}
    assert clean["differences"] == []
    assert clean["new_alerts"] == 0
    charged = [c["charged_fen"] for c in clean["charges"]]
    assert charged == [p["total_fen"] for p in clean["payments"]]
    (lost,) = [c for c in faulty["charges"] if c["bill_id"] is None]
    (altered,) = [c for c in faulty["charges"] if c["channel"] == "fhir"]
    assert (lost["channel"], lost["answer"]) == ("mllp", "AA")  # the HIS believes it arrived
    paid_altered = next(p["total_fen"] for p in faulty["payments"] if p["ref"] == altered["ref"])
    assert paid_altered != altered["charged_fen"]
    rows = sorted(
        (d["side"], d["kind"], d["key"], d["facepay_fen"], d["other_fen"])
        for d in faulty["differences"]
    )
    assert rows == [
        ("his", "amount_differs", altered["ref"], paid_altered, altered["charged_fen"]),
        ("his", "missing_in_facepay", lost["ref"], None, lost["charged_fen"]),
    ]
    assert faulty["new_alerts"] == 2
    assert his["mllp"]["listener"]["errors"] == 0
    assert his["fhir"]["hook_refused"] == []
    assert "exactly the lost message and the altered amount" in report["stderr"]
