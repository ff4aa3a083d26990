"""The emergency flow over HTTP on SQLite and PostgreSQL: the demo walker, the refusals, another
site's record, replayed keys, racing charges and merges, and the ledger after each step."""

from __future__ import annotations

import base64
import io
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from PIL import Image
from tests.flows.conftest import Api

from facepay.client import StaffSession
from facepay.demo.flows.emergency import walk
from facepay.demo.scenario import STAFF_PASSWORD, expect
from facepay.demo.world import Site, register_person
from facepay.ledger.accounts import AccountKind, account_id

B_KEY = {"Idempotency-Key": "site-b-key-1"}
LINE = {"code": "ER9", "name": "triage", "item_class": "A", "unit_price": 1_000, "quantity": "1"}


def tiny_png() -> str:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def staff(site: Site, api: Api, role: str) -> StaffSession:
    name = f"{role}-t-{secrets.token_hex(3)}"
    expect(
        site.admin.request(
            "POST", "/v1/staff", {"username": name, "password": STAFF_PASSWORD, "role": role}
        ),
        201,
    )
    return StaffSession.login(api.http, name, STAFF_PASSWORD)


def balance(api: Api, kind: AccountKind, owner: str) -> int:
    ident = account_id(kind, owner)
    with api.services.uow() as uow:
        found = uow.ledger.lock_accounts([ident]).get(ident)
    return found.balance if found else 0


def code(response: Any) -> tuple[int, str | None]:
    return response.status_code, response.json().get("code")


def test_the_demo_walk(api: Api, site_a: Site) -> None:
    unsettled_before = balance(api, AccountKind.HOSPITAL_UNSETTLED, site_a.hospital_id)
    report = walk(site_a, api.http, today=date(2026, 3, 1))
    total = 5_000 + 38_000 + 3 * 1_250 + 6 * 2_000
    assert [c.get("total_fen") for c in report["charges"]] == [43_000, 15_750, None]
    assert report["charges"][-1]["replayed"] is True
    assert report["before_merge"] == {"charged_fen": total, "record_arrears_fen": total}
    assert report["refusals"] == {
        "kiosk_opens_record": report["refusals"]["kiosk_opens_record"],
        "nurse_merges": {"status": 403, "code": "permission_denied"},
        "merge_without_identification": {
            "status": 422,
            "code": "emergency_identification_required",
        },
        "charge_after_merge": {"status": 409, "code": "emergency_record_merged"},
        "merge_twice": {"status": 409, "code": "emergency_already_merged"},
    }
    assert report["refusals"]["kiosk_opens_record"]["status"] in {401, 403}
    assert report["merged"]["moved_fen"] == total == report["merged"]["bill"]["total_fen"]
    s = report["settlement"]
    assert s["medfee_sumamt"] == total == s["fund_pay_sumamt"] + s["psn_part_amt"]
    assert s["psn_part_amt"] == s["acct_pay"] + s["psn_cash_pay"]
    assert report["after_payment"] == {"status": "settled", "record_arrears_fen": 0}
    # The site's unsettled treatment is back where it was: the payment cleared it.
    assert balance(api, AccountKind.HOSPITAL_UNSETTLED, site_a.hospital_id) == unsettled_before


def test_refusals_tenancy_and_races(api: Api, site_a: Site, site_b: Site) -> None:
    nurse = staff(site_a, api, "nurse")
    opened = expect(nurse.request("POST", "/v1/emergency/records", {"sex": "F"}), 201)
    path = f"/v1/emergency/records/{opened['id']}"
    assert opened["number"].startswith("ER-")
    # Wrong types and unknown fields never reach the use case.
    for bad in ({"estimated_age": "forty"}, {"sex": "X"}, {"colour": "red"}, {"notes": "a\x00"}):
        assert nurse.request("POST", "/v1/emergency/records", bad).status_code == 422
    bad_line = {**LINE, "unit_price": 1.5}
    assert (
        nurse.request(
            "POST", f"{path}/charges", {"lines": [bad_line]}, {"Idempotency-Key": "bad-line-1"}
        ).status_code
        == 422
    )
    # Another site sees nothing; the kiosk and the auditor may not touch records.
    cashier_b = site_b.cashier
    assert code(cashier_b.request("GET", path))[0] == 404
    assert code(
        cashier_b.request(
            "POST", f"{path}/charges", {"lines": [LINE]}, {"Idempotency-Key": "site-b-key-1"}
        )
    ) == (404, "not_found")
    assert code(cashier_b.request("POST", f"{path}/merge", {"hospital_tier": 2}))[0] == 404
    assert site_a.auditor.request("GET", path).status_code == 403
    assert site_a.kiosk.request("GET", path).status_code in {401, 403}
    assert code(
        nurse.request(
            "POST",
            "/v1/emergency/identifications",
            {
                "capture": {
                    "started_at": "2026-03-01T09:00:00Z",
                    "frames": [{"t": 0, "image": tiny_png()}],
                },
                "mode": "assisted",
                "reason": "other",
            },
        )
    ) == (422, "bad_emergency_reason")
    assert site_a.cashier.request(
        "POST",
        "/v1/emergency/identifications",
        {"capture": {}, "mode": "assisted", "reason": "unconscious"},
    ).status_code in {403, 422}

    # A replayed key repeats nothing; the same key with other lines is refused.
    one = {"Idempotency-Key": f"race-{opened['id']}-same"}
    first = expect(nurse.request("POST", f"{path}/charges", {"lines": [LINE]}, one), 201)
    again = expect(nurse.request("POST", f"{path}/charges", {"lines": [LINE]}, one), 201)
    assert (first["replayed"], again["replayed"]) == (False, True)
    other = {**LINE, "unit_price": 2_000}
    assert code(nurse.request("POST", f"{path}/charges", {"lines": [other]}, one)) == (
        409,
        "idempotency_conflict",
    )

    # Eight charges at once, each with its own key: every one counted, once.
    def charge(n: int) -> int:
        key = {"Idempotency-Key": f"race-{opened['id']}-{n}"}
        response = nurse.request("POST", f"{path}/charges", {"lines": [LINE]}, key)
        if response.status_code == 409 and response.json()["code"] == "storage_busy":
            response = nurse.request("POST", f"{path}/charges", {"lines": [LINE]}, key)
        return response.status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(charge, range(8))) == [201] * 8
    record = expect(nurse.request("GET", path), 200)
    assert record["charged_fen"] == 9_000 == record["arrears_fen"]
    assert len(record["charges"]) == 9
    owner = f"{site_a.hospital_id}/{opened['id']}"
    assert balance(api, AccountKind.EMERGENCY_ARREARS, owner) == 9_000

    # Two cashiers merge at once: one wins, the other is refused; the money moved once.
    person = site_a.person["person_id"]
    arrears_before = balance(api, AccountKind.ARREARS, person)

    def merge(_: int) -> tuple[int, str | None]:
        card = site_a.identify_by_card()
        body = {"identification_id": card["identification_id"], "hospital_tier": 2}
        return code(site_a.cashier.request("POST", f"{path}/merge", body))

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(merge, range(2)))
    assert outcomes[0] == (201, None)
    assert outcomes[1][0] == 409
    assert outcomes[1][1] in {"emergency_already_merged", "storage_busy"}
    assert balance(api, AccountKind.ARREARS, person) == arrears_before + 9_000
    assert balance(api, AccountKind.EMERGENCY_ARREARS, owner) == 0
    merged = expect(nurse.request("GET", path), 200)
    bill = expect(site_a.cashier.request("GET", f"/v1/bills/{merged['bill_id']}"), 200)
    assert (bill["status"], bill["total"], bill["person_id"]) == ("open", 9_000, person)
    assert cashier_b.request("GET", f"/v1/bills/{merged['bill_id']}").status_code == 404
    listed = expect(nurse.request("GET", "/v1/emergency/records?status=merged"), 200)
    assert opened["id"] in [r["id"] for r in listed]


def test_a_registered_carer_opens_and_merges_for_the_patient(api: Api, site_a: Site) -> None:
    """Review: a proxy with a check_in grant acts at the desk for the patient, audited under
    both persons; one without it, or a stranger, is refused."""
    nurse = staff(site_a, api, "nurse")
    carer = register_person(api.operator, serial=9_000 + secrets.randbelow(900), name="Carer")
    patient = site_a.person
    grant = {
        "patient_id": patient["person_id"],
        "proxy_identification_id": site_a.identify_by_card(carer)["identification_id"],
        "patient_identification_id": site_a.identify_by_card(patient)["identification_id"],
        "relation": "carer",
        "basis": "patient_consent",
        "acts": ["check_in"],
        "valid_until": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    }
    granted = expect(site_a.cashier.request("POST", "/v1/proxies", grant), 201)

    def by_carer() -> str:
        return str(site_a.identify_by_card(carer)["identification_id"])

    opened = expect(
        nurse.request(
            "POST",
            "/v1/emergency/records",
            {"identification_id": by_carer(), "patient_id": patient["person_id"]},
        ),
        201,
    )
    assert opened["person_id"] == patient["person_id"]
    unknown = expect(nurse.request("POST", "/v1/emergency/records", {}), 201)
    path = f"/v1/emergency/records/{unknown['id']}"
    key = {"Idempotency-Key": f"px-{unknown['id']}"}
    expect(nurse.request("POST", f"{path}/charges", {"lines": [LINE]}, key), 201)
    other = register_person(api.operator, serial=9_000 + secrets.randbelow(900), name="Other")
    body = {"identification_id": by_carer(), "hospital_tier": 2, "patient_id": other["person_id"]}
    stranger = site_a.cashier.request("POST", f"{path}/merge", body)
    assert code(stranger) == (409, "emergency_person_mismatch")  # no grant for that patient
    merged = expect(
        site_a.cashier.request(
            "POST",
            f"{path}/merge",
            {**body, "identification_id": by_carer(), "patient_id": patient["person_id"]},
        ),
        201,
    )
    assert merged["bill"]["person_id"] == patient["person_id"]
    entries = expect(site_a.auditor.request("GET", "/v1/audit/entries?limit=500"), 200)["items"]
    wanted = {("emergency.open", opened["id"]), ("emergency.merge", unknown["id"])}
    done = {e["action"]: e["details"] for e in entries if (e["action"], e["subject"]) in wanted}
    for action in ("emergency.open", "emergency.merge"):
        assert done[action]["present"] == carer["person_id"]
        assert done[action]["patient"] == patient["person_id"]
        assert done[action]["proxy_grant"] == granted["id"]
