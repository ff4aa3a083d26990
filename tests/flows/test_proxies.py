"""Guardians and proxies over HTTP on SQLite and PostgreSQL: register, pay for the patient,
revoke; refusals for a stranger, another hospital and a terminal."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.flows.conftest import Api

from facepay.demo.scenario import expect
from facepay.demo.world import Site, register_person


@pytest.fixture(scope="module")
def carer(api: Api) -> dict[str, Any]:
    return register_person(api.operator, serial=9_000 + secrets.randbelow(900), name="Carer")


def _grant(site: Site, patient: dict[str, Any], proxy: dict[str, Any], **extra: Any) -> Any:
    body = {
        "patient_id": patient["person_id"],
        "proxy_identification_id": site.identify_by_card(proxy)["identification_id"],
        "patient_identification_id": site.identify_by_card(patient)["identification_id"],
        "relation": "carer",
        "basis": "patient_consent",
        "acts": ["pay", "collect"],
        "valid_until": (datetime.now(UTC) + timedelta(days=90)).isoformat(),
        **extra,
    }
    return site.cashier.request("POST", "/v1/proxies", body)


def _pay(site: Site, bill: dict[str, Any], who: dict[str, Any]) -> Any:
    ident = site.identify_by_card(who)
    return site.kiosk.request(
        "POST",
        f"/v1/bills/{bill['id']}/payments",
        {"identification_id": ident["identification_id"]},
        headers={"Idempotency-Key": f"k-{secrets.token_hex(8)}"},
    )


def test_a_carer_pays_for_the_patient_until_the_grant_is_revoked(
    site_a: Site, site_b: Site, carer: dict[str, Any]
) -> None:
    stranger = site_a.post_bill()
    refused = _pay(site_a, stranger, carer)
    assert (refused.status_code, refused.json()["code"]) == (403, "wrong_patient")

    grant = expect(_grant(site_a, site_a.person, carer), 201)
    assert (grant["status"], grant["acts"]) == ("active", ["collect", "pay"])
    again = _grant(site_a, site_a.person, carer)
    assert (again.status_code, again.json()["code"]) == (409, "proxy_already_granted")

    paid = expect(_pay(site_a, stranger, carer), 201)
    assert paid["bill"]["status"] == "paid"
    assert paid["bill"]["person_id"] == site_a.person["person_id"]
    entries = expect(site_a.auditor.request("GET", "/v1/audit/entries?limit=500"), 200)
    settle = next(
        e
        for e in entries["items"]
        if e["action"] == "payment.settle" and e["subject"] == stranger["id"]
    )
    assert settle["details"]["proxy"] == carer["person_id"]

    listed = expect(
        site_a.cashier.request("GET", f"/v1/patients/{site_a.person['person_id']}/proxies"), 200
    )
    assert [g["id"] for g in listed] == [grant["id"]]
    assert site_b.admin.request("GET", f"/v1/proxies/{grant['id']}").status_code == 404
    assert (
        site_b.admin.request("POST", f"/v1/proxies/{grant['id']}/revocation", {}).status_code == 404
    )

    revoked = expect(
        site_a.admin.request("POST", f"/v1/proxies/{grant['id']}/revocation", {"reason": "moved"}),
        200,
    )
    assert revoked["status"] == "revoked"
    after = _pay(site_a, site_a.post_bill(), carer)
    assert (after.status_code, after.json()["code"]) == (403, "proxy_expired")


def test_bad_grants_and_the_wrong_callers_are_refused(site_a: Site, carer: dict[str, Any]) -> None:
    kiosk = site_a.kiosk.request("POST", "/v1/proxies", {"patient_id": "x"})
    assert kiosk.status_code == 401  # staff at a desk only: a signature is no login
    too_long = _grant(
        site_a,
        site_a.person,
        carer,
        valid_until=(datetime.now(UTC) + timedelta(days=800)).isoformat(),
    )
    assert (too_long.status_code, too_long.json()["code"]) == (422, "grant_too_long")
    wrong_type = _grant(site_a, site_a.person, carer, acts="pay")
    assert wrong_type.status_code == 422
    unknown = _grant(site_a, site_a.person, carer, transfer_to="someone")
    assert unknown.status_code == 422
    self_proxy = _grant(site_a, site_a.person, site_a.person)
    assert self_proxy.status_code in (403, 409, 422)
    verify = site_a.kiosk.request(
        "POST",
        "/v1/identifications/verify",
        {"capture": {}, "person_ids": [f"p{i}" for i in range(6)]},
    )
    assert verify.status_code == 422


def test_two_desks_registering_the_same_carer_at_once_make_one_grant(
    api: Api, site_a: Site
) -> None:
    patient = register_person(api.operator, serial=9_900 + secrets.randbelow(99), name="Pat")
    helper = register_person(api.operator, serial=9_990 + secrets.randbelow(9), name="Help")
    bodies = [
        {
            "patient_id": patient["person_id"],
            "proxy_identification_id": site_a.identify_by_card(helper)["identification_id"],
            "patient_identification_id": site_a.identify_by_card(patient)["identification_id"],
            "relation": "carer",
            "basis": "patient_consent",
            "acts": ["collect"],
            "valid_until": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        }
        for _ in range(4)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(lambda body: site_a.cashier.request("POST", "/v1/proxies", body), bodies)
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409, 409, 409], [a.text for a in answers]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"proxy_already_granted"}
    listed = site_a.cashier.request("GET", f"/v1/patients/{patient['person_id']}/proxies")
    assert len(listed.json()) == 1
