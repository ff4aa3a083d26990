"""Inpatient stays over HTTP on SQLite and PostgreSQL: the demo walk (its money recomputed),
admissions racing across two sites, another site's stay, replayed keys, wrong types, roles."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from tests.flows.conftest import Api

from facepay.client import StaffSession, TerminalSession
from facepay.demo.flows import inpatient as flow
from facepay.demo.scenario import STAFF_PASSWORD, expect
from facepay.demo.world import Site, register_person


def local_today() -> date:
    """The hospitals' day (FACEPAY_HOSPITAL_UTC_OFFSET_MINUTES, +8 h by default)."""
    return (datetime.now(UTC) + timedelta(minutes=480)).date()


def staff(site: Site, http: httpx.Client, role: str) -> tuple[str, StaffSession]:
    name = f"{role}-{secrets.token_hex(3)}"
    body = {"username": name, "password": STAFF_PASSWORD, "role": role}
    made = expect(site.admin.request("POST", "/v1/staff", body), 201)
    return made["id"], StaffSession.login(http, name, STAFF_PASSWORD)


def terminal(site: Site, http: httpx.Client, kind: str) -> TerminalSession:
    made = expect(site.admin.request("POST", "/v1/terminals", {"name": kind, "kind": kind}), 201)
    return TerminalSession.from_pem(http, made["id"], made["private_key_pem"])


def admission(site: Site, person: dict[str, Any], doctor_id: str, bed: str) -> dict[str, Any]:
    return {
        "person_id": person["person_id"],
        "identification_id": site.identify_by_card(person)["identification_id"],
        "ward": "W1",
        "bed": bed,
        "diagnosis_code": "I21.000",
        "diagnosis_text": "acute myocardial infarction",
        "attending_doctor_id": doctor_id,
        "hospital_tier": 2,
    }


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"t-{secrets.token_hex(8)}"}


def test_the_demo_walk_and_its_money(api: Api, site_a: Site) -> None:
    report = flow.walk(site_a, api.http, today=local_today())
    assert report["second_admission"]["refused"] == "already_admitted"
    assert report["bedside"]["stranger"] == "not_the_patient"
    assert report["bedside"]["card_at_terminal_without_staff"] == "staff_confirmation_required"
    assert report["bedside"]["second_today"] == "bedside_checked_in"
    first, second = report["discharge"], report["discharge_again"]
    # Reversed and settled again on the same charges: the same split, the same share taken
    # from the deposit; the surplus the first discharge handed back is not held or handed back
    # again (the reversal holds only what the first discharge took).
    assert first["split"] == second["split"]
    money = ("cash_share", "applied", "arrears")
    assert [first["netting"][k] for k in money] == [second["netting"][k] for k in money]
    assert first["netting"]["released"] > 0
    assert report["reversal"]["deposit_fen"] == first["netting"]["applied"]
    assert second["netting"]["released"] == 0
    assert report["interim_statement"]["split"] == first["split"]
    check = report["check"]
    assert check["deposit_applied_plus_arrears_plus_fund_plus_account"] == check["charges_fen"]
    assert check["deposit_fen"] == 200_000
    handed_back = first["netting"]["released"] + second["netting"]["released"]
    assert second["netting"]["applied"] + handed_back == check["deposit_fen"]
    assert second["split"]["medfee_sumamt"] == check["charges_fen"]
    assert second["netting"]["cash_share"] == second["split"]["psn_cash_pay"]
    assert report["reversal"]["status"] == "admitted"


def test_two_sites_race_to_admit_one_patient(api: Api, site_a: Site, site_b: Site) -> None:
    person = register_person(api.operator, serial=900 + secrets.randbelow(90))
    doctor_a, _ = staff(site_a, api.http, "doctor")
    _, nurse_a = staff(site_a, api.http, "nurse")
    doctor_b, _ = staff(site_b, api.http, "doctor")
    body_a = admission(site_a, person, doctor_a, "7")
    body_b = admission(site_b, person, doctor_b, "7")
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda pair: pair[0].request("POST", "/v1/stays", pair[1]),
                [(nurse_a, body_a), (site_b.cashier, body_b)],
            )
        )
    codes = sorted(r.status_code for r in answers)
    assert codes == [201, 409], [r.text for r in answers]
    lost = next(r for r in answers if r.status_code == 409)
    assert lost.json()["code"] == "already_admitted"
    won = next(r for r in answers if r.status_code == 201).json()
    # The winner's site reads the stay; the other site does not see it at all.
    winner, other = (site_a, site_b) if answers[0].status_code == 201 else (site_b, site_a)
    assert winner.cashier.request("GET", f"/v1/stays/{won['id']}").status_code == 200
    hidden = other.cashier.request("GET", f"/v1/stays/{won['id']}")
    assert hidden.status_code == 404
    deposit = other.cashier.request(
        "POST", f"/v1/stays/{won['id']}/deposits", {"amount": 100, "source": "cash"}, key()
    )
    assert deposit.status_code == 404


def test_refusals_replays_and_roles(api: Api, site_a: Site) -> None:
    person = register_person(api.operator, serial=990 + secrets.randbelow(9), fund_fen=0)
    doctor, _ = staff(site_a, api.http, "doctor")
    _, nurse = staff(site_a, api.http, "nurse")
    bed = f"{secrets.randbelow(900) + 100}"
    stay = expect(nurse.request("POST", "/v1/stays", admission(site_a, person, doctor, bed)), 201)
    path = f"/v1/stays/{stay['id']}"
    other = register_person(api.operator, serial=980 + secrets.randbelow(9))
    taken = nurse.request("POST", "/v1/stays", admission(site_a, other, doctor, bed))
    assert (taken.status_code, taken.json()["code"]) == (409, "bed_occupied")
    not_doctor = admission(site_a, other, stay["id"], "2")
    refused = nurse.request("POST", "/v1/stays", not_doctor)
    assert refused.status_code == 422

    headers = key()
    body = {"amount": 80_000, "source": "cash"}
    first = expect(site_a.cashier.request("POST", f"{path}/deposits", body, headers), 201)
    again = expect(site_a.cashier.request("POST", f"{path}/deposits", body, headers), 201)
    assert again["replayed"]
    assert again["deposit"]["id"] == first["deposit"]["id"]
    assert again["stay"]["deposit_fen"] == 80_000
    clash = site_a.cashier.request("POST", f"{path}/deposits", {**body, "amount": 1}, headers)
    assert (clash.status_code, clash.json()["code"]) == (409, "idempotency_conflict")
    for wrong in (
        {"amount": "80000", "source": "cash"},
        {"amount": 1.5, "source": "cash"},
        {"amount": 0, "source": "cash"},
        {"amount": 100, "source": "cheque"},
        {"amount": 100, "source": "cash", "hold": "x"},
    ):
        assert site_a.cashier.request("POST", f"{path}/deposits", wrong, key()).status_code == 422

    today = date.fromisoformat(stay["admitted_on"])
    lines = flow.day_lines(0)
    charge = {"reference": "R-1", "service_date": today.isoformat(), "lines": lines}
    his = terminal(site_a, api.http, "his")
    done = expect(his.request("POST", f"{path}/charges", charge), 201)
    assert not done["replayed"]
    assert expect(his.request("POST", f"{path}/charges", charge), 201)["replayed"]
    changed = {**charge, "lines": lines[:2]}
    clash = his.request("POST", f"{path}/charges", changed)
    assert (clash.status_code, clash.json()["code"]) == (409, "charge_reference_conflict")
    float_quantity = {**charge, "reference": "R-2", "lines": [{**lines[0], "unit_price": 1.5}]}
    assert his.request("POST", f"{path}/charges", float_quantity).status_code == 422
    early = {**charge, "reference": "R-3", "service_date": (today - timedelta(days=1)).isoformat()}
    late = his.request("POST", f"{path}/charges", early)
    assert (late.status_code, late.json()["code"]) == (422, "bad_service_date")

    ward = terminal(site_a, api.http, "ward")
    assert ward.request("POST", f"{path}/charges", charge).status_code == 403
    assert nurse.request("POST", f"{path}/discharge", None, key()).status_code == 403
    assert site_a.kiosk.request("POST", f"{path}/discharge", None, key()).status_code == 403
    assert site_a.auditor.request("GET", path).status_code == 200

    # Two cashiers settle the same stay at once, with different keys: one discharge only.
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda _: site_a.cashier.request("POST", f"{path}/discharge", None, key()),
                range(2),
            )
        )
    assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
    settled = next(r for r in answers if r.status_code == 201).json()
    assert next(r for r in answers if r.status_code == 409).json()["code"] == "stay_discharged"
    split, netting = settled["split"], settled["discharge"]
    assert netting["applied"] + netting["released"] == 80_000
    assert (
        netting["applied"] + netting["arrears"] + split["fund_pay_sumamt"] + split["acct_pay"]
        == split["medfee_sumamt"]
        == done["amount"]
    )
    after = expect(site_a.cashier.request("GET", path), 200)
    assert after["status"] == "discharged"
    assert len(after["discharges"]) == 1
    closed = site_a.cashier.request("POST", f"{path}/deposits", body, key())
    assert (closed.status_code, closed.json()["code"]) == (409, "stay_discharged")
    # Discharged: the patient may be admitted again (a later admission of the year).
    expect(nurse.request("POST", "/v1/stays", admission(site_a, person, doctor, bed)), 201)
