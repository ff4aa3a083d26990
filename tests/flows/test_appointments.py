"""Appointments through HTTP on SQLite and PostgreSQL: sessions, bookings bound to the person,
the races for the last slot and for a person's limit, cancels, check-ins, the HIS channel."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.flows.conftest import Api

from facepay.client import TerminalSession
from facepay.demo.flows.appointments import walk
from facepay.demo.scenario import expect
from facepay.demo.world import Site, register_person

LOCAL = timedelta(hours=8)  # the settings' hospital_utc_offset_minutes
SERIALS = iter(range(5_000, 6_000))
OPEN_ALL_DAY = {
    "per_department_day": 1,
    "per_week": 3,
    "release_min_seconds": 0,
    "release_max_seconds": 0,
    "cancel_cutoff_minutes": 0,
    "check_in_early_minutes": 3 * 24 * 60,
}


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"apt-{secrets.token_hex(8)}"}


def local_day(days: int) -> str:
    return (datetime.now(UTC) + LOCAL + timedelta(days=days)).date().isoformat()


def session(site: Site, *, capacity: int = 2, days: int = 2, **kw: Any) -> dict[str, Any]:
    body = {
        "department": "CARD",
        "doctor": f"D{secrets.token_hex(3)}",
        "doctor_name": "Dr Li",
        "session_date": local_day(days),
        "period": "am",
        "capacity": capacity,
        "fee_fen": 5_000,
        "hospital_tier": 3,
        **kw,
    }
    return expect(site.admin.request("POST", "/v1/schedules", body), 201)


def book(site: Site, schedule: dict[str, Any], person: dict[str, Any] | None = None) -> Any:
    ident = site.identify_by_card(person)
    return site.kiosk.request(
        "POST",
        "/v1/appointments",
        {"schedule_id": schedule["id"], "identification_id": ident["identification_id"]},
        headers=key(),
    )


def code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["code"])


@pytest.fixture(scope="module")
def people(api: Api, site_a: Site) -> list[dict[str, Any]]:
    """Four more insured persons, and site A's policy with immediate release and early check-in."""
    expect(site_a.admin.request("PUT", "/v1/appointment-policy", OPEN_ALL_DAY), 200)
    return [register_person(api.operator, serial=next(SERIALS)) for _ in range(4)]


def test_book_pay_replay_and_read(site_a: Site, site_b: Site, people: Any) -> None:
    schedule = session(site_a)
    assert schedule["available"] == 2
    assert schedule["hospital_tier"] == 3
    ident = site_a.identify_by_card(people[0])
    body = {"schedule_id": schedule["id"], "identification_id": ident["identification_id"]}
    headers = key()
    made = expect(site_a.kiosk.request("POST", "/v1/appointments", body, headers=headers), 201)
    assert (made["slot"], made["status"], made["channel"]) == (1, "booked", "kiosk")
    assert made["person_id"] == people[0]["person_id"]
    assert made["bill"]["status"] == "paid"
    assert made["bill"]["total"] == 5_000
    split = made["settlement"]
    assert split["medfee_sumamt"] == 5_000
    assert split["fund_pay_sumamt"] + split["acct_pay"] + split["psn_cash_pay"] == 5_000
    again = expect(site_a.kiosk.request("POST", "/v1/appointments", body, headers=headers), 201)
    assert again["replayed"]
    assert again["id"] == made["id"]
    read = expect(site_a.cashier.request("GET", f"/v1/appointments/{made['id']}"), 200)
    assert read["schedule"]["available"] == 1
    # Another site sees neither the booking nor the session.
    assert site_b.cashier.request("GET", f"/v1/appointments/{made['id']}").status_code == 404
    assert site_b.cashier.request("GET", f"/v1/schedules/{schedule['id']}").status_code == 404
    foreign = site_b.identify_by_card()
    refused = site_b.kiosk.request(
        "POST",
        "/v1/appointments",
        {"schedule_id": schedule["id"], "identification_id": foreign["identification_id"]},
        headers=key(),
    )
    assert refused.status_code == 404
    day = expect(
        site_a.cashier.request("GET", f"/v1/schedules?date={schedule['session_date']}"), 200
    )
    assert schedule["id"] in {item["id"] for item in day["items"]}


def test_bookings_cannot_change_person_and_refuse_wrong_types(site_a: Site) -> None:
    schedule = session(site_a)
    made = expect(book(site_a, schedule), 201)
    path = f"/v1/appointments/{made['id']}"
    patch = site_a.cashier.request("PATCH", path, {"person_id": "psn_other"})
    assert patch.status_code == 405
    assert code(patch, 405) == "method_not_allowed"
    smuggled = site_a.kiosk.request(
        "POST",
        "/v1/appointments",
        {
            "schedule_id": schedule["id"],
            "identification_id": site_a.identify_by_card()["identification_id"],
            "person_id": "psn_other",
        },
        headers=key(),
    )
    assert smuggled.status_code == 422
    wrong = site_a.admin.request(
        "POST",
        "/v1/schedules",
        {
            "department": "CARD",
            "doctor": "DX",
            "doctor_name": "Dr X",
            "session_date": local_day(2),
            "period": "am",
            "capacity": "5",
            "fee_fen": 1.5,
        },
    )
    assert wrong.status_code == 422
    no_key = site_a.kiosk.request(
        "POST", "/v1/appointments", {"schedule_id": schedule["id"], "id_number": "1" * 18}
    )
    assert no_key.status_code == 422
    # A cashier may not open sessions; a kiosk may not book by ID number.
    assert site_a.cashier.request("POST", "/v1/schedules", {}).status_code == 403
    by_number = site_a.kiosk.request(
        "POST",
        "/v1/appointments",
        {"schedule_id": schedule["id"], "id_number": site_a.person["id_number"]},
        headers=key(),
    )
    assert code(by_number, 403) == "his_channel_only"


def race(calls: list[Any]) -> list[httpx.Response]:
    """Run every call at once (a barrier releases them together)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_clients_racing_for_the_last_slot(api: Api, site_a: Site, people: Any) -> None:
    schedule = session(site_a, capacity=1, department="RACE")
    kiosks = site_a.add_kiosks(len(people) - 1)
    idents = [site_a.identify_by_card(p)["identification_id"] for p in people]

    def booking(kiosk: TerminalSession, ident: str) -> Any:
        return lambda: kiosk.request(
            "POST",
            "/v1/appointments",
            {"schedule_id": schedule["id"], "identification_id": ident},
            headers=key(),
        )

    results = race([booking(k, i) for k, i in zip(kiosks, idents, strict=True)])
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] + [409] * (len(people) - 1), [r.text for r in results]
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"session_full"}
    assert (
        expect(site_a.cashier.request("GET", f"/v1/schedules/{schedule['id']}"), 200)["available"]
        == 0
    )


def test_one_person_racing_for_two_sessions_of_a_department(site_a: Site, people: Any) -> None:
    first, second = session(site_a, days=3), session(site_a, days=3)
    person = people[1]
    kiosks = site_a.add_kiosks(1)
    idents = [site_a.identify_by_card(person)["identification_id"] for _ in range(2)]
    calls = [
        lambda k=k, s=s, i=i: k.request(
            "POST",
            "/v1/appointments",
            {"schedule_id": s["id"], "identification_id": i},
            headers=key(),
        )
        for k, s, i in zip(kiosks, (first, second), idents, strict=True)
    ]
    results = race(calls)
    assert sorted(r.status_code for r in results) == [201, 409], [r.text for r in results]
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"booking_limit_day"}


def test_resold_booking_and_check_in(site_a: Site, people: Any) -> None:
    schedule = session(site_a, days=1)
    made = expect(book(site_a, schedule, people[2]), 201)
    path = f"/v1/appointments/{made['id']}/check-in"
    buyer = site_a.identify_by_card(people[3])
    resold = site_a.cashier.request("POST", path, {"identification_id": buyer["identification_id"]})
    assert code(resold, 403) == "not_the_patient"
    alone = site_a.kiosk.request(
        "POST", path, {"identification_id": site_a.identify_by_card(people[2])["identification_id"]}
    )
    assert code(alone, 403) == "staff_confirmation_required"
    ident = site_a.identify_by_card(people[2])["identification_id"]
    done = expect(site_a.cashier.request("POST", path, {"identification_id": ident}), 200)
    assert done["status"] == "checked_in"
    replay = expect(site_a.cashier.request("POST", path, {"identification_id": ident}), 200)
    assert replay["replayed"]
    cancel = site_a.cashier.request(
        "POST",
        f"/v1/appointments/{made['id']}/cancel",
        {"identification_id": site_a.identify_by_card(people[2])["identification_id"]},
        headers=key(),
    )
    assert code(cancel, 409) == "appointment_checked_in"
    actions = [e["action"] for e in audit_entries(site_a) if e["subject"] == made["id"]]
    refused = "appointment.check_in_refused"
    assert actions == ["appointment.book", refused, refused, "appointment.check_in"]
    codes = [
        e["details"]["code"]
        for e in audit_entries(site_a)
        if e["action"] == refused and e["subject"] == made["id"]
    ]
    assert codes == ["not_the_patient", "staff_confirmation_required"]


def audit_entries(site: Site) -> list[dict[str, Any]]:
    """Every entry of the site's chain (the event stream supervision reads)."""
    found: list[dict[str, Any]] = []
    seq: int | None = 1
    while seq is not None:
        page = expect(
            site.auditor.request("GET", f"/v1/audit/entries?from_seq={seq}&limit=500"), 200
        )
        found += page["items"]
        seq = page["next_seq"]
    return found


def test_cancel_refunds_and_releases(site_a: Site, people: Any) -> None:
    schedule = session(site_a, capacity=1, days=4, department="DERM")
    made = expect(book(site_a, schedule, people[0]), 201)
    cancel_path = f"/v1/appointments/{made['id']}/cancel"
    anonymous = site_a.kiosk.request("POST", cancel_path, {}, headers=key())
    assert code(anonymous, 403) == "identification_required"
    headers = key()
    ident = site_a.identify_by_card(people[0])["identification_id"]
    done = expect(
        site_a.kiosk.request("POST", cancel_path, {"identification_id": ident}, headers=headers),
        200,
    )
    assert done["status"] == "cancelled"
    assert done["refunded"]
    assert done["refunded_fen"] == 5_000
    assert done["bill"]["status"] == "refunded"
    replay = expect(
        site_a.kiosk.request("POST", cancel_path, {"identification_id": ident}, headers=headers),
        200,
    )
    assert replay["replayed"]
    # Site A's window is 0 s: the slot is free again at once, and someone else takes it.
    time.sleep(0.01)
    assert expect(book(site_a, schedule, people[1]), 201)["slot"] == 1


def test_his_books_by_id_number_and_the_fee_waits(site_a: Site, people: Any) -> None:
    made = expect(
        site_a.admin.request("POST", "/v1/terminals", {"name": "his", "kind": "his"}), 201
    )
    his = TerminalSession.from_pem(site_a.kiosk.http, made["id"], made["private_key_pem"])
    schedule = session(site_a, days=1, department="ENT")
    booked = expect(
        his.request(
            "POST",
            "/v1/appointments",
            {"schedule_id": schedule["id"], "id_number": people[3]["id_number"]},
            headers=key(),
        ),
        201,
    )
    assert booked["channel"] == "his"
    assert booked["bill"]["status"] == "open"
    assert booked["settlement"] is None
    # The HIS cannot check anyone in; the cashier checks in and takes the fee at once.
    ident = site_a.identify_by_card(people[3])["identification_id"]
    path = f"/v1/appointments/{booked['id']}/check-in"
    assert code(his.request("POST", path, {"identification_id": ident}), 403) == "permission_denied"
    done = expect(site_a.cashier.request("POST", path, {"identification_id": ident}), 200)
    assert done["bill"]["status"] == "paid"
    assert done["settlement"]["medfee_sumamt"] == 5_000


def test_demo_walk(api: Api, site_b: Site) -> None:
    report = walk(site_b, api.http, today=(datetime.now(UTC) + LOCAL).date())
    steps = {s["step"]: s for s in report["steps"]}
    assert steps["book_at_kiosk_by_card"]["booking"]["bill"]["status"] == "paid"
    assert steps["second_cardiology_booking_same_day"]["code"] == "booking_limit_day"
    assert steps["check_in_by_the_buyer_of_a_resold_booking"]["code"] == "not_the_patient"
    assert steps["check_in_by_card_without_staff"]["code"] == "staff_confirmation_required"
    assert steps["check_in_by_card_confirmed_by_staff"]["booking"]["status"] == "checked_in"
    assert steps["his_cancels_unpaid_booking"]["booking"]["bill"]["status"] == "cancelled"
    refunded = steps["timely_cancel_refunded"]["booking"]
    assert refunded["refunded_fen"] == 5_000
    assert refunded["release_at"] is not None
    assert steps["slots_after_cancel"]["available"] == 0
    settlement = steps["book_at_kiosk_by_card"]["booking"]["settlement"]
    parts = settlement["fund_pay_sumamt"] + settlement["acct_pay"] + settlement["psn_cash_pay"]
    assert parts == settlement["medfee_sumamt"] == 5_000
