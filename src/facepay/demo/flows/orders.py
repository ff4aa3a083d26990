"""The pharmacy and exam flow through HTTP at one site: a paid bill with drug, exam and lab
lines; its order read from the window's event stream; a partial pick-up by card with the
pharmacist confirming; the return of one line not handed over (and its refund); the exam's
check-in, completion, result from a LIS/PACS terminal and reading by the ordering doctor; and
the refusals (a stranger collecting, another doctor reading)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx

from facepay.demo.flows.steps import refusal, split_of
from facepay.demo.scenario import expect
from facepay.demo.world import Site, register_person


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Server-Sent Events from a stream's lines: {"id", "event", "data"} (comments skipped)."""
    event: dict[str, Any] = {}
    for line in lines:
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")


def walk(site: Site, http: httpx.Client, *, today: date) -> dict[str, Any]:
    """Walk the flow at `site` through `http`; returns what each step sent and got back."""
    pharmacist, _ = site.add_staff("pharmacist")
    doctor, doctor_id = site.add_staff("doctor")
    other_doctor, _ = site.add_staff("doctor")
    nurse, _ = site.add_staff("nurse")
    pacs = site.add_terminal("lis_pacs")
    lines = [
        {"code": "D01", "name": "amoxicillin 0.25 g x 24", "item_class": "A", "unit_price": 1_850,
         "quantity": "2", "kind": "drug", "window": "W1", "ordered_by": doctor_id},
        {"code": "D02", "name": "ibuprofen 0.3 g x 20", "item_class": "B", "unit_price": 1_200,
         "quantity": "1", "kind": "drug", "window": "W1", "ordered_by": doctor_id},
        {"code": "D03", "name": "cough syrup 100 ml", "item_class": "C", "unit_price": 2_600,
         "quantity": "1", "kind": "drug", "window": "W1", "ordered_by": doctor_id},
        {"code": "X01", "name": "chest x-ray", "item_class": "A", "unit_price": 9_000,
         "quantity": "1", "kind": "exam", "department": "radiology", "ordered_by": doctor_id},
        {"code": "L01", "name": "complete blood count", "item_class": "A", "unit_price": 2_500,
         "quantity": "1", "kind": "lab", "department": "laboratory", "ordered_by": doctor_id},
    ]  # fmt: skip
    body = {
        "external_ref": f"RX-{secrets.token_hex(6)}",
        "id_number": site.person["id_number"],
        "visit_type": "outpatient",
        "hospital_tier": 3,
        "service_date": today.isoformat(),
        "lines": lines,
    }
    bill = expect(site.cashier.request("POST", "/v1/bills", body), 201)
    pre = expect(site.kiosk.request("POST", f"/v1/bills/{bill['id']}/presettlement"), 200)
    report: dict[str, Any] = {
        "bill": {"id": bill["id"], "lines": bill["lines"], "total": bill["total"]},
        "person": {"id": site.person["person_id"]},
        "presettlement": split_of(pre["split"]),
    }
    # The window's stream is open before the payment: the order appears when it commits.
    stream_path = "/v1/pharmacy/windows/W1/events"
    with http.stream("GET", stream_path, headers=dict(pharmacist._auth)) as stream:
        lines_in = stream.iter_lines()
        opening = next(lines_in)
        ident = site.identify_by_card()
        report["person"]["category"] = ident.get("category")
        paid = expect(
            site.kiosk.request(
                "POST",
                f"/v1/bills/{bill['id']}/payments",
                {"identification_id": ident["identification_id"]},
                headers={"Idempotency-Key": f"pay-{secrets.token_hex(8)}"},
            ),
            201,
        )
        paid_at = time.perf_counter()
        event = next(sse_events(lines_in))
        pushed_ms = round((time.perf_counter() - paid_at) * 1000, 1)
    order = json.loads(event["data"])["order"]
    report["payment"] = {"settlement_id": paid["settlement_id"], **split_of(paid["split"])}
    report["window_event"] = {
        "opening": opening,
        "id": event["id"],
        "event": event["event"],
        "order": order["id"],
        "lines": [line["code"] for line in order["lines"]],
        "ms_after_payment": pushed_ms,
    }
    queue = expect(pharmacist.request("GET", "/v1/pharmacy/windows/W1/queue"), 200)
    report["queue"] = [o["id"] for o in queue["orders"]]
    # A stranger at the window: someone else's card identification.
    stranger = register_person(site.operator, serial=900 + int(secrets.token_hex(2), 16) % 9000)
    wrong = site.identify_by_card(stranger)
    refused = pharmacist.request(
        "POST",
        f"/v1/dispensing-orders/{order['id']}/collection",
        {"identification_id": wrong["identification_id"]},
    )
    report["refusals"] = {"stranger_collects": refusal(refused)}
    started = time.perf_counter()
    picked = expect(
        pharmacist.request(
            "POST",
            f"/v1/dispensing-orders/{order['id']}/collection",
            {
                "identification_id": site.identify_by_card()["identification_id"],
                "lines": [{"code": "D01", "quantity": "2"}, {"code": "D02", "quantity": "1"}],
            },
        ),
        201,
    )
    report["pick_up"] = {
        "method": picked["presence"]["method"],
        "status": picked["order"]["status"],
        "lines": {line["code"]: line["state"] for line in picked["order"]["lines"]},
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }
    back = expect(
        pharmacist.request(
            "POST",
            f"/v1/dispensing-orders/{order['id']}/returns",
            {"line_codes": ["D03"]},
            headers={"Idempotency-Key": f"ret-{secrets.token_hex(8)}"},
        ),
        201,
    )
    report["return"] = {
        "lines": ["D03"],
        "refunded_fen": back["refunded_fen"],
        "reversed_settlement_id": back["reversed_settlement_id"],
        "resettlement": split_of(back["resettlement"]) if back["resettlement"] else None,
        "status": back["order"]["status"],
    }
    worklist = expect(nurse.request("GET", "/v1/worklists/radiology"), 200)
    exam = worklist["requests"][0]
    checked = expect(
        nurse.request(
            "POST",
            f"/v1/service-requests/{exam['id']}/check-in",
            {"identification_id": site.identify_by_card()["identification_id"]},
        ),
        201,
    )
    done = expect(nurse.request("POST", f"/v1/service-requests/{exam['id']}/done"), 200)
    result_body = {
        "summary": "Lungs clear. No focal consolidation. Heart size normal.",
        "conclusion": "normal",
        "image_ref": f"1.2.826.0.1.3680043.8.498.{int(secrets.token_hex(4), 16)}",
        "performed_at": done["done_at"],
    }
    recorded = expect(
        pacs.request("POST", f"/v1/service-requests/{exam['id']}/result", result_body), 201
    )
    result = expect(doctor.request("GET", f"/v1/service-requests/{exam['id']}/result"), 200)
    other = other_doctor.request("GET", f"/v1/service-requests/{exam['id']}/result")
    report["refusals"]["another_doctor_reads"] = refusal(other)
    status_ident = site.identify_by_card()["identification_id"]
    ready = expect(
        site.kiosk.request(
            "GET",
            f"/v1/patients/{site.person['person_id']}/results-status"
            f"?identification_id={status_ident}",
        ),
        200,
    )
    report["exam"] = {
        "request": exam["id"],
        "department": exam["department"],
        "check_in_method": checked["presence"]["method"],
        "statuses": [checked["request"]["status"], done["status"], recorded["status"]],
        "result": {"conclusion": result["conclusion"], "image_ref": result["image_ref"]},
        "patient_sees": [
            {"request": r["request"], "status": r["status"], "ready": r["ready"]}
            for r in ready["results"]
        ],
    }
    return report
