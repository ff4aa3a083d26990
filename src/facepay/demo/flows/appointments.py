"""The appointments flow at one site, through HTTP: a session opened, a booking paid at the kiosk
by card, the limit and a resold-ticket check-in refused, the staff-confirmed check-in, an HIS
booking by ID number cancelled with its open fee, and a timely cancel refunded."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Any

import httpx

from facepay.client import StaffSession, TerminalSession
from facepay.demo.flows.steps import SPLIT_FIELDS, idempotency, refusal
from facepay.demo.scenario import expect
from facepay.demo.world import Site, register_person

FEE_FEN = 5_000


def _open(admin: StaffSession, body: dict[str, Any]) -> dict[str, Any]:
    """Open a session at the site's own tier, or at tier 3 when the site has none on record."""
    made = admin.request("POST", "/v1/schedules", body)
    if made.status_code == 422 and made.json().get("code") == "bad_schedule":
        made = admin.request("POST", "/v1/schedules", {**body, "hospital_tier": 3})
    return expect(made, 201)


def _booking(body: dict[str, Any]) -> dict[str, Any]:
    """What the report keeps of a booking: slot, status, bill lines, the fee's split."""
    bill = body.get("bill") or {}
    return {
        "appointment_id": body["id"],
        "person_id": body["person_id"],
        "slot": body["slot"],
        "channel": body["channel"],
        "status": body["status"],
        "release_at": body["release_at"],
        "refunded": body["refunded"],
        "refunded_fen": body.get("refunded_fen"),
        "bill": {
            "id": bill.get("id"),
            "status": bill.get("status"),
            "total": bill.get("total"),
            "lines": bill.get("lines"),
            "settlement_id": bill.get("settlement_id"),
        }
        if bill
        else None,
        "settlement": {k: body["settlement"][k] for k in SPLIT_FIELDS}
        if body.get("settlement")
        else None,
    }


def walk(site: Site, http: httpx.Client, *, today: date) -> dict[str, Any]:
    """Walk the appointments flow at `site` and report every step's inputs and outcomes."""
    steps: list[dict[str, Any]] = []
    policy = {
        "per_department_day": 1,
        "per_week": 3,
        "release_min_seconds": 300,
        "release_max_seconds": 1_800,
        "cancel_cutoff_minutes": 0,
        "check_in_early_minutes": 2 * 24 * 60,  # so that tomorrow's session checks in today
    }
    expect(site.admin.request("PUT", "/v1/appointment-policy", policy), 200)
    steps.append({"step": "policy", "policy": policy})

    day = today + timedelta(days=1)
    sessions = {}
    for name, doctor, department in (
        ("cardiology_am", "D-LI", "CARD"),
        ("cardiology_am_2", "D-WANG", "CARD"),
        ("dermatology_am", "D-ZHAO", "DERM"),
    ):
        body = {
            "department": department,
            "doctor": doctor,
            "doctor_name": f"Dr {doctor[2:].title()}",
            "session_date": day.isoformat(),
            "period": "am",
            "capacity": 2,
            "fee_fen": FEE_FEN,
            "fee_code": "REG-EXPERT",
            "fee_name": "Expert registration",
            "fee_item_class": "A",
        }
        made = _open(site.admin, body)
        sessions[name] = made
        steps.append({"step": "open_schedule", "input": body, "schedule": made})

    patient = site.person
    found = expect(
        site.operator.request(
            "POST", "/v1/insured-persons/search", {"id_number": patient["id_number"]}
        ),
        200,
    )
    steps.append({"step": "patient_before", "person": found["items"]})

    ident = site.identify_by_card()
    booked = expect(
        site.kiosk.request(
            "POST",
            "/v1/appointments",
            {
                "schedule_id": sessions["cardiology_am"]["id"],
                "identification_id": ident["identification_id"],
            },
            headers=idempotency(),
        ),
        201,
    )
    steps.append({"step": "book_at_kiosk_by_card", "booking": _booking(booked)})

    again = site.kiosk.request(
        "POST",
        "/v1/appointments",
        {
            "schedule_id": sessions["cardiology_am_2"]["id"],
            "identification_id": site.identify_by_card()["identification_id"],
        },
        headers=idempotency(),
    )
    steps.append({"step": "second_cardiology_booking_same_day", **refusal(again, 409)})

    buyer = register_person(
        site.operator, serial=200_000 + secrets.randbelow(10**6), name="Ticket Buyer"
    )
    # The buyer of the resold booking shows their own card at the desk: not the booked person.
    resold = site.cashier.request(
        "POST",
        f"/v1/appointments/{booked['id']}/check-in",
        {"identification_id": site.identify_by_card(buyer)["identification_id"]},
    )
    steps.append({"step": "check_in_by_the_buyer_of_a_resold_booking", **refusal(resold, 403)})
    unconfirmed = site.kiosk.request(
        "POST",
        f"/v1/appointments/{booked['id']}/check-in",
        {"identification_id": site.identify_by_card()["identification_id"]},
    )
    steps.append({"step": "check_in_by_card_without_staff", **refusal(unconfirmed, 403)})
    checked = expect(
        site.cashier.request(
            "POST",
            f"/v1/appointments/{booked['id']}/check-in",
            {"identification_id": site.identify_by_card()["identification_id"]},
        ),
        200,
    )
    steps.append({"step": "check_in_by_card_confirmed_by_staff", "booking": _booking(checked)})

    his_made = expect(
        site.admin.request("POST", "/v1/terminals", {"name": "his-booking", "kind": "his"}), 201
    )
    his = TerminalSession.from_pem(http, his_made["id"], his_made["private_key_pem"])
    by_his = expect(
        his.request(
            "POST",
            "/v1/appointments",
            {"schedule_id": sessions["dermatology_am"]["id"], "id_number": patient["id_number"]},
            headers=idempotency(),
        ),
        201,
    )
    steps.append({"step": "book_by_his_for_its_app", "booking": _booking(by_his)})
    his_cancel = expect(
        his.request("POST", f"/v1/appointments/{by_his['id']}/cancel", {}, headers=idempotency()),
        200,
    )
    steps.append({"step": "his_cancels_unpaid_booking", "booking": _booking(his_cancel)})

    rebooked = expect(
        site.kiosk.request(
            "POST",
            "/v1/appointments",
            {
                "schedule_id": sessions["dermatology_am"]["id"],
                "identification_id": site.identify_by_card()["identification_id"],
            },
            headers=idempotency(),
        ),
        201,
    )
    steps.append({"step": "book_dermatology_at_kiosk", "booking": _booking(rebooked)})
    cancelled = expect(
        site.kiosk.request(
            "POST",
            f"/v1/appointments/{rebooked['id']}/cancel",
            {"identification_id": site.identify_by_card()["identification_id"]},
            headers=idempotency(),
        ),
        200,
    )
    steps.append({"step": "timely_cancel_refunded", "booking": _booking(cancelled)})
    after = expect(
        site.cashier.request("GET", f"/v1/schedules/{sessions['dermatology_am']['id']}"), 200
    )
    steps.append(
        {
            "step": "slots_after_cancel",
            "capacity": after["capacity"],
            "available": after["available"],
            "note": "the cancelled slot stays held until its random release_at",
        }
    )
    return {"flow": "appointments", "site": site.hospital_id, "steps": steps}
