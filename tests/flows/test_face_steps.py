"""The steps of a visit by face, over HTTP with the real dlib models, on SQLite.

Patient A (Obama: chip photo obama.jpg, camera obama2.jpg) and a stranger B (Biden) are enrolled
at one site by a kiosk, from live captures answering the server's liveness challenge. Then:
the 1:1 verification (`POST /v1/identifications/verify`) matches A's face against A and not B's;
a paid bill's medicines are collected at the pharmacy window by A's face verified 1:1 and never
by B's (1:1 or 1:N); an appointment is checked in by A's face and refused to B's. The other
flow tests use card identifications; this module is their face counterpart.

The synthetic patient misses a random challenge's move now and then (the liveness suite
measures ~5 %): like a kiosk, each capture is filmed again on `liveness_retry`/`liveness_spoof`,
up to 5 times.

SQLite only: what a face step adds is the face (liveness, 1:1 and 1:N on the real models), which
does not depend on the database; the same steps' database side (presence, locks, audit) is walked
on both databases by the card-identified flow tests (test_orders, test_appointments, test_day).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.flows.conftest import Api

from facepay.client import StaffSession, TerminalSession
from facepay.demo import kiosk
from facepay.demo.captures import capture_body, challenge_of, live_capture
from facepay.demo.scenario import STAFF_PASSWORD, expect
from facepay.demo.world import Site, register_person
from facepay.terminal.kiosk import RETAKES
from facepay.vision.image import load_image
from facepay.vision.liveness.synth.bona_fide import Subject, subjects_from_photo

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("api", ["sqlite"], indirect=True)]

ATTEMPTS = 5
WINDOW = "W1"
SEEDS = iter(range(1_000, 100_000, 10))


@dataclass
class Visit:
    """One site with A and B enrolled, a pharmacy window terminal and its pharmacist."""

    site: Site
    a: dict[str, Any]
    b: dict[str, Any]
    faces: dict[str, Subject]
    window: TerminalSession
    pharmacist: StaffSession


def _subject(engine: Any, photo: Path) -> Subject:
    return subjects_from_photo(engine, load_image(photo), photo.stem, photo.stem)[0]


def _terminal(site: Site, kind: str) -> TerminalSession:
    body = {"name": f"{kind}-{secrets.token_hex(3)}", "kind": kind}
    made = expect(site.admin.request("POST", "/v1/terminals", body), 201)
    return TerminalSession.from_pem(site.kiosk.http, made["id"], made["private_key_pem"])


def _staff(site: Site, http: httpx.Client, role: str) -> StaffSession:
    name = f"{role}-{secrets.token_hex(3)}"
    body = {"username": name, "password": STAFF_PASSWORD, "role": role}
    expect(site.admin.request("POST", "/v1/staff", body), 201)
    return StaffSession.login(http, name, STAFF_PASSWORD)


def _filmed(
    terminal: TerminalSession, face: Subject, path: str, extra: dict[str, Any]
) -> httpx.Response:
    """The terminal's camera films `face` answering a fresh challenge and sends it to `path`;
    filmed again on a liveness refusal, as a kiosk does."""
    seed = next(SEEDS)
    for attempt in range(ATTEMPTS):
        issued = expect(terminal.request("POST", "/v1/liveness/challenges"), 201)
        capture = live_capture(face, challenge_of(issued), seed=seed + attempt)
        response = terminal.request("POST", path, {"capture": capture_body(capture), **extra})
        if response.status_code != 422 or response.json().get("code") not in RETAKES:
            return response
    return response


def verify(terminal: TerminalSession, face: Subject, person_ids: list[str]) -> httpx.Response:
    """1:1 of the face at the terminal against the named persons."""
    return _filmed(terminal, face, "/v1/identifications/verify", {"person_ids": person_ids})


def identify(terminal: TerminalSession, face: Subject) -> httpx.Response:
    """1:N of the face at the terminal among the site's enrolled patients."""
    return _filmed(terminal, face, "/v1/identifications", {})


@pytest.fixture(scope="module")
def visit(api: Api, site_a: Site, face_engine: Any, images_dir: Path) -> Visit:
    """A and B enrolled at site A's kiosk from live captures; a window and a pharmacist."""
    stranger = register_person(
        api.operator, serial=7_000 + secrets.randbelow(900), name="Joe Biden"
    )
    faces = {
        "a": _subject(face_engine, images_dir / "obama2.jpg"),
        "b": _subject(face_engine, images_dir / "biden.jpg"),
    }
    for seed, (card, face, chip) in enumerate(
        ((site_a.person, faces["a"], "obama.jpg"), (stranger, faces["b"], "biden.jpg"))
    ):
        enrolled = kiosk.enrol(
            site_a.kiosk,
            card,
            load_image(images_dir / chip),
            face,
            seed=seed,
            attempts=ATTEMPTS,
        )
        assert enrolled.status_code == 201, enrolled.text
        assert enrolled.json()["person_id"] == card["person_id"]
    return Visit(
        site=site_a,
        a=site_a.person,
        b=stranger,
        faces=faces,
        window=_terminal(site_a, "window"),
        pharmacist=_staff(site_a, api.http, "pharmacist"),
    )


def _audit(site: Site, action: str, subject: str) -> list[dict[str, Any]]:
    entries = expect(site.auditor.request("GET", "/v1/audit/entries?limit=500"), 200)
    return [e for e in entries["items"] if e["action"] == action and e["subject"] == subject]


def test_verify_matches_the_named_person_only(visit: Visit) -> None:
    a_id = visit.a["person_id"]
    own = expect(verify(visit.site.kiosk, visit.faces["a"], [a_id]), 201)
    assert (own["decision"], own["method"], own["person_id"]) == ("match", "face", a_id)
    assert own["needs_second_factor"] is False
    other = expect(verify(visit.site.kiosk, visit.faces["b"], [a_id]), 201)
    assert (other["decision"], other["person_id"]) == ("no_match", None)
    [entry] = _audit(visit.site, "patient.verify", other["identification_id"])
    assert entry["details"]["decision"] == "no_match"
    assert entry["details"]["against"] == 1


def _paid_order(visit: Visit) -> dict[str, Any]:
    """A's bill with two drug lines for the window, paid by card at the kiosk: its order."""
    lines = [
        {"code": "D1", "name": "amlodipine 5 mg", "item_class": "A", "unit_price": 1_250,
         "quantity": "2", "kind": "drug", "window": WINDOW},
        {"code": "D2", "name": "vitamin C", "item_class": "C", "unit_price": 700,
         "quantity": "1", "kind": "drug", "window": WINDOW},
    ]  # fmt: skip
    body = {
        "external_ref": f"RX-{secrets.token_hex(6)}",
        "id_number": visit.a["id_number"],
        "visit_type": "outpatient",
        "hospital_tier": 3,
        "service_date": datetime.now(UTC).date().isoformat(),
        "lines": lines,
    }
    bill = expect(visit.site.cashier.request("POST", "/v1/bills", body), 201)
    assert visit.site.pay_by_card(bill)["bill"]["status"] == "paid"
    queue = expect(visit.window.request("GET", f"/v1/pharmacy/windows/{WINDOW}/queue"), 200)
    order: dict[str, Any] = next(o for o in queue["orders"] if o["bill_id"] == bill["id"])
    assert (order["person_id"], order["status"]) == (visit.a["person_id"], "queued")
    return order


def test_pick_up_by_face_at_the_window(visit: Visit) -> None:
    site, a_id = visit.site, visit.a["person_id"]
    order = _paid_order(visit)
    collect = f"/v1/dispensing-orders/{order['id']}/collection"

    # B at the window: 1:1 against the order's patient finds nobody; 1:N finds B, not A.
    by_verify = expect(verify(visit.window, visit.faces["b"], [order["person_id"]]), 201)
    assert by_verify["decision"] == "no_match"
    by_search = expect(identify(visit.window, visit.faces["b"]), 201)
    assert (by_search["decision"], by_search["person_id"]) == ("match", visit.b["person_id"])
    for stranger in (by_verify, by_search):
        refused = visit.pharmacist.request(
            "POST", collect, {"identification_id": stranger["identification_id"]}
        )
        assert (refused.status_code, refused.json()["code"]) == (403, "not_the_patient")
    untouched = expect(visit.pharmacist.request("GET", f"/v1/dispensing-orders/{order['id']}"), 200)
    assert untouched["status"] == "queued"

    # A at the window: verified 1:1, the pharmacist hands everything over.
    own = expect(verify(visit.window, visit.faces["a"], [order["person_id"]]), 201)
    assert (own["decision"], own["person_id"]) == ("match", a_id)
    done = expect(
        visit.pharmacist.request("POST", collect, {"identification_id": own["identification_id"]}),
        201,
    )
    assert done["order"]["status"] == "done"
    assert done["presence"]["patient"] == done["presence"]["present"] == a_id
    assert (done["presence"]["method"], done["presence"]["proxy_grant"]) == ("face", None)
    [entry] = _audit(site, "dispensing.collect", order["id"])
    assert entry["details"]["identification"] == own["identification_id"]
    assert entry["details"]["method"] == "face"

    # Once handed over, the order is done; the used identification opens no other order.
    used = {"identification_id": own["identification_id"]}
    again = visit.pharmacist.request("POST", collect, used)
    assert (again.status_code, again.json()["code"]) == (409, "order_done")
    other = _paid_order(visit)
    reused = visit.pharmacist.request(
        "POST", f"/v1/dispensing-orders/{other['id']}/collection", used
    )
    assert (reused.status_code, reused.json()["code"]) == (409, "identification_used")


def test_check_in_by_face_for_the_booked_person_only(visit: Visit) -> None:
    site, a_id = visit.site, visit.a["person_id"]
    policy = {
        "per_department_day": 1,
        "per_week": 3,
        "release_min_seconds": 300,
        "release_max_seconds": 1_800,
        "cancel_cutoff_minutes": 0,
        "check_in_early_minutes": 2 * 24 * 60,  # tomorrow's session checks in today
    }
    expect(site.admin.request("PUT", "/v1/appointment-policy", policy), 200)
    schedule = {
        "department": "CARD",
        "doctor": "D-LI",
        "doctor_name": "Dr Li",
        "session_date": (datetime.now(UTC).date() + timedelta(days=1)).isoformat(),
        "period": "am",
        "capacity": 4,
        "fee_fen": 5_000,
        "fee_code": "REG-EXPERT",
        "fee_name": "Expert registration",
        "fee_item_class": "A",
        "hospital_tier": 3,
    }
    session = expect(site.admin.request("POST", "/v1/schedules", schedule), 201)
    booked = expect(
        site.kiosk.request(
            "POST",
            "/v1/appointments",
            {
                "schedule_id": session["id"],
                "identification_id": site.identify_by_card()["identification_id"],
            },
            headers={"Idempotency-Key": f"book-{secrets.token_hex(8)}"},
        ),
        201,
    )
    assert (booked["person_id"], booked["status"]) == (a_id, "booked")
    check_in = f"/v1/appointments/{booked['id']}/check-in"

    # The buyer of a resold ticket (B) at the clinic's kiosk: 1:1 against the booked person.
    buyer = expect(verify(site.kiosk, visit.faces["b"], [booked["person_id"]]), 201)
    assert buyer["decision"] == "no_match"
    refused = site.kiosk.request(
        "POST", check_in, {"identification_id": buyer["identification_id"]}
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "not_the_patient")
    [entry] = _audit(site, "appointment.check_in_refused", booked["id"])
    assert entry["details"]["code"] == "not_the_patient"
    assert entry["details"]["identification"] == buyer["identification_id"]

    # A's own face: checked in at the kiosk, no staff needed for a face.
    own = expect(verify(site.kiosk, visit.faces["a"], [booked["person_id"]]), 201)
    assert (own["decision"], own["person_id"]) == ("match", a_id)
    checked = expect(
        site.kiosk.request("POST", check_in, {"identification_id": own["identification_id"]}),
        200,
    )
    assert checked["status"] == "checked_in"
    [entry] = _audit(site, "appointment.check_in", booked["id"])
    assert (entry["details"]["method"], entry["details"]["present"]) == ("face", a_id)
