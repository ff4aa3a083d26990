"""The demo day over HTTP on SQLite and PostgreSQL: every flow walked at one hospital, and every
settlement it made recomputed from the report alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.flows.conftest import Api

from facepay.adapters.interchange import shipped_policies
from facepay.demo.day import FLOWS, run_day
from facepay.demo.recompute import recompute


@pytest.fixture(scope="module")
def day(api: Api) -> dict[str, Any]:
    return run_day(api.http, platform=api.operator, today=datetime.now(UTC).date())


def test_every_flow_is_walked_and_the_report_is_json(day: dict[str, Any]) -> None:
    assert set(day["flows"]) == {name for name, _ in FLOWS}
    assert json.loads(json.dumps(day)) == day


def test_every_settlement_recomputes_exactly(day: dict[str, Any]) -> None:
    checked = day["recomputed"]
    assert checked["differences"] == []
    # Fees, pharmacy and exams, a proxy's payment, two discharges (one reversed), the emergency.
    assert checked["settlements"] >= 6
    statuses = {s["status"] for s in day["settlements"]}
    assert statuses == {"settled", "reversed"}
    for read in day["settlements"]:
        assert read["bill"] is not None
        assert read["payer"] is not None
        assert (
            read["split"]["medfee_sumamt"]
            == read["split"]["fund_pay_sumamt"] + read["split"]["psn_part_amt"]
        )


def test_a_changed_fen_in_the_report_is_caught(day: dict[str, Any]) -> None:
    read = json.loads(json.dumps(day["settlements"][0]))
    read["split"]["psn_cash_pay"] += 1
    assert recompute(read, shipped_policies()) != []
    read = json.loads(json.dumps(day["settlements"][0]))
    read["accumulators_before"]["outpatient_deductible_used"] += 50_000
    read["bill"]["lines"][0]["unit_price"] += 1
    assert recompute(read, shipped_policies()) != []


def test_the_refusals_carry_their_codes(day: dict[str, Any]) -> None:
    guardians = day["flows"]["guardians"]["refusals"]
    assert guardians["carer_before_grant"]["code"] == "wrong_patient"
    assert guardians["carer_after_revocation"]["code"] == "proxy_expired"
    assert guardians["stranger_pays"]["code"] == "wrong_patient"


def test_patient_screens_get_one_short_sentence(day: dict[str, Any]) -> None:
    said = day["flows"]["inpatient"]["bedside"]["checked_in"]["prompt"]
    assert said == "Thank you. You are checked in for today."
