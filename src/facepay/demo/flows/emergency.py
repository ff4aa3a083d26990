"""The emergency flow through HTTP at one site: an unknown patient gets a record and is treated
and charged before anyone pays; later identified by card, the record is merged into the person,
whose bill is then paid at the kiosk. Every step's inputs and outcomes go into the report, and
the refusals with their codes, so that the money can be recomputed from it.

The region-wide face identification needs the face models and a live capture; the walker does
not film anyone (the HTTP tests do), and says so in its report.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from facepay.demo.flows.steps import refusal
from facepay.demo.scenario import expect
from facepay.demo.world import Site

CHARGES: tuple[tuple[str, list[dict[str, Any]]], ...] = (
    (
        "resuscitation",
        [
            {"code": "ER01", "name": "emergency consultation", "item_class": "A",
             "unit_price": 5_000, "quantity": "1"},
            {"code": "ER02", "name": "CT head", "item_class": "B",
             "unit_price": 38_000, "quantity": "1"},
        ],
    ),
    (
        "observation",
        [
            {"code": "ER03", "name": "saline infusion", "item_class": "A",
             "unit_price": 1_250, "quantity": "3"},
            {"code": "ER04", "name": "observation bed (hours)", "item_class": "C",
             "unit_price": 2_000, "quantity": "6"},
        ],
    ),
)  # fmt: skip


def walk(site: Site, http: httpx.Client, *, today: date) -> dict[str, Any]:
    """Walk the emergency flow at `site`; returns the report."""
    nurse, doctor = site.add_staff("nurse")[0], site.add_staff("doctor")[0]
    report: dict[str, Any] = {"flow": "emergency", "hospital": site.hospital_id, "day": str(today)}
    opened_with = {"visit_type": "outpatient", "sex": "M", "estimated_age": 45,
                   "notes": "found unconscious at the bus station, no documents"}  # fmt: skip
    record = expect(nurse.request("POST", "/v1/emergency/records", opened_with), 201)
    report["opened"] = {"input": opened_with, "id": record["id"], "number": record["number"]}
    path = f"/v1/emergency/records/{record['id']}"
    charges = []
    for n, (what, lines) in enumerate(CHARGES):
        key = {"Idempotency-Key": f"er-{record['id']}-{n}"}
        made = expect(doctor.request("POST", f"{path}/charges", {"lines": lines}, key), 201)
        charge = made["charge"]
        charges.append(
            {"what": what, "lines": charge["lines"], "total_fen": charge["total"]}
            | {"replayed": made["replayed"]}
        )
    again = doctor.request(
        "POST",
        f"{path}/charges",
        {"lines": CHARGES[0][1]},
        {"Idempotency-Key": f"er-{record['id']}-0"},
    )
    charges.append({"what": "retry of the first charge", "replayed": again.json()["replayed"]})
    report["charges"] = charges
    before = expect(nurse.request("GET", path), 200)
    report["before_merge"] = {"charged_fen": before["charged_fen"],
                              "record_arrears_fen": before["arrears_fen"]}  # fmt: skip
    report["refusals"] = {
        "kiosk_opens_record": refusal(site.kiosk.request("POST", "/v1/emergency/records", {})),
        "nurse_merges": refusal(nurse.request("POST", f"{path}/merge", {})),
        "merge_without_identification": refusal(
            site.cashier.request("POST", f"{path}/merge", {"hospital_tier": 3})
        ),
    }
    card = site.identify_by_card()
    merge_body = {"identification_id": card["identification_id"], "hospital_tier": 3}
    merged = expect(site.cashier.request("POST", f"{path}/merge", merge_body), 201)
    bill = merged["bill"]
    report["merged"] = {
        "person": merged["record"]["person_id"],
        "category": card.get("category"),
        "moved_fen": merged["moved_fen"],
        "bill": {
            "id": bill["id"],
            "external_ref": bill["external_ref"],
            "visit_type": bill["visit_type"],
            "service_date": bill["service_date"],
            "total_fen": bill["total"],
            "lines": bill["lines"],
        },
    }
    report["refusals"]["charge_after_merge"] = refusal(
        doctor.request(
            "POST",
            f"{path}/charges",
            {"lines": CHARGES[0][1]},
            {"Idempotency-Key": f"er-late-{record['id']}"},
        )
    )
    report["refusals"]["merge_twice"] = refusal(
        site.cashier.request("POST", f"{path}/merge", merge_body)
    )
    paid = site.pay_by_card(bill)
    report["settlement"] = {"settlement_id": paid["settlement_id"], **paid["split"]}
    after = expect(nurse.request("GET", path), 200)
    report["after_payment"] = {
        "status": after["status"],
        "record_arrears_fen": after["arrears_fen"],
    }
    report["face_identification"] = {
        "skipped": "needs the face models and a live capture (tests/flows/test_emergency.py)"
    }
    return report
