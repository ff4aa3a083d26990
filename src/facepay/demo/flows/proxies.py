"""Guardians and proxies through HTTP at one site: a frail patient's daughter is registered as
her carer at the desk (both identified there), pays her mother's bill at the kiosk with her own
card, and is refused once the grant is revoked; a stranger's card never pays."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from facepay.demo.flows.steps import card_identification, idempotency, refusal, split_of
from facepay.demo.scenario import expect
from facepay.demo.world import Site, register_person

LINES = [
    {"code": "A10", "name": "amlodipine 5 mg x 28", "item_class": "A", "unit_price": 2_150,
     "quantity": "2"},
    {"code": "B10", "name": "blood pressure review", "item_class": "B", "unit_price": 3_000,
     "quantity": "1"},
]  # fmt: skip


def _bill(site: Site, patient: dict[str, Any], today: date) -> dict[str, Any]:
    body = {
        "external_ref": f"RX-{secrets.token_hex(6)}",
        "id_number": patient["id_number"],
        "visit_type": "outpatient",
        "hospital_tier": 3,
        "service_date": today.isoformat(),
        "lines": LINES,
    }
    return expect(site.cashier.request("POST", "/v1/bills", body), 201)


def _pay(site: Site, bill: dict[str, Any], who: dict[str, Any]) -> httpx.Response:
    body = {"identification_id": card_identification(site.kiosk, who)}
    return site.kiosk.request("POST", f"/v1/bills/{bill['id']}/payments", body, idempotency())


def walk(site: Site, http: httpx.Client, *, today: date) -> dict[str, Any]:
    """Register a carer, pay by proxy, revoke, and the refusals; returns the report."""
    serial = 7_000 + secrets.randbelow(2_000)
    mother = register_person(site.operator, serial=serial, name="Elderly Patient")
    daughter = register_person(site.operator, serial=serial + 1, name="Daughter Carer")
    stranger = register_person(site.operator, serial=serial + 2, name="Stranger")
    report: dict[str, Any] = {"patient": mother["person_id"], "carer": daughter["person_id"]}

    first = _bill(site, mother, today)
    report["refusals"] = {"carer_before_grant": refusal(_pay(site, first, daughter), 403)}
    grant_body = {
        "patient_id": mother["person_id"],
        "proxy_identification_id": card_identification(site.kiosk, daughter),
        "patient_identification_id": card_identification(site.kiosk, mother),
        "relation": "child",
        "basis": "patient_consent",
        "acts": ["pay", "collect", "check_in"],
        "valid_until": (datetime.now(UTC) + timedelta(days=180)).isoformat(),
    }
    grant = expect(site.cashier.request("POST", "/v1/proxies", grant_body), 201)
    report["grant"] = {k: grant[k] for k in ("id", "relation", "basis", "acts", "status")}

    paid = expect(_pay(site, first, daughter), 201)
    report["paid_by_carer"] = {
        "bill_id": first["id"],
        "lines": LINES,
        "settlement_id": paid["settlement_id"],
        "split": split_of(paid["split"]),
    }
    report["refusals"]["stranger_pays"] = refusal(
        _pay(site, _bill(site, mother, today), stranger), 403
    )

    revoked = expect(
        site.cashier.request(
            "POST", f"/v1/proxies/{grant['id']}/revocation", {"reason": "the patient asked"}
        ),
        200,
    )
    report["revoked"] = revoked["status"]
    after = _bill(site, mother, today)
    report["refusals"]["carer_after_revocation"] = refusal(_pay(site, after, daughter), 403)
    return report
