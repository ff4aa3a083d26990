"""The demo scenario, as HTTP calls: a platform operator, a hospital admin, a cashier and a kiosk.

Every kiosk request is signed with the kiosk's Ed25519 key; the captures are synthesised from the
real sample photos for each challenge the server issues. Server-side times come from the
`Server-Timing` header, so that client-side rendering and encoding do not count.
"""

from __future__ import annotations

import secrets
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from facepay.client import StaffSession, TerminalSession
from facepay.demo.captures import (
    capture_body,
    challenge_of,
    live_capture,
    photo_attack,
)
from facepay.demo.people import DemoPatient, demo_patients
from facepay.terminal.capture import SubjectSource
from facepay.terminal.kiosk import Kiosk, KioskRefused
from facepay.vision.engine import FaceEngine
from facepay.vision.quality import assess_frame

STAFF_PASSWORD = "demo-" + "cashier-pass-2026"
ADMIN_PASSWORD = "demo-" + "admin-pass-2026!"


LIVENESS_ATTEMPTS = 5
SCORED = 8


class DemoError(RuntimeError):
    """A step of the scenario got an unexpected answer."""


def expect(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """The JSON body if the status is one of `statuses`, else DemoError with the problem."""
    if response.status_code not in statuses:
        raise DemoError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:300]}"
        )
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def bill_lines(serial: int) -> list[dict[str, Any]]:
    """An inpatient bill: a class-C supplement, a class-B treatment, two class-A items."""
    return [
        {"code": "C01", "name": "single-room supplement", "item_class": "C",
         "unit_price": 20_000, "quantity": "1"},
        {"code": "B01", "name": "class-B treatment", "item_class": "B",
         "unit_price": 300_000 + 1_000 * (serial % 7), "quantity": "1"},
        {"code": "A01", "name": "class-A drug", "item_class": "A", "unit_price": 12_000,
         "quantity": "2", "price_ceiling": 10_000},
        {"code": "A02", "name": "class-A services", "item_class": "A",
         "unit_price": 250_000, "quantity": "1"},
    ]  # fmt: skip


@dataclass
class PaymentSeen:
    """One payment as the kiosk saw it."""

    patient: str
    decision: str
    split: dict[str, Any]
    server_ms: float
    bill_id: str
    receipt: dict[str, Any]
    liveness_retries: int = 0
    frame: Any = None
    """A middle frame of the capture that identified the patient (for the kiosk-side scores)."""
    scores: tuple[float, float] | None = None
    """Kiosk-side 1:N re-check: cosine to the patient's chip photo, best other enrolled patient."""


@dataclass
class DemoReport:
    """What the scenario did and measured."""

    faces: list[dict[str, Any]] = field(default_factory=list)
    enrolments: list[dict[str, Any]] = field(default_factory=list)
    payments: list[PaymentSeen] = field(default_factory=list)
    attack: dict[str, Any] = field(default_factory=dict)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    fallback: dict[str, Any] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)
    sent_to_cashier: int = 0
    """Payments abandoned after LIVENESS_ATTEMPTS refused bona fide captures."""

    def latency(self) -> tuple[float, float]:
        """p50 and p95 of the server-side payment times in ms."""
        times = sorted(p.server_ms for p in self.payments)
        if len(times) < 2:
            return (times[0], times[0]) if times else (float("nan"), float("nan"))
        cuts = statistics.quantiles(times, n=20, method="inclusive")
        return statistics.median(times), cuts[18]


@dataclass
class Actors:
    """The sessions of the scenario."""

    operator: StaffSession
    admin: StaffSession
    cashier: StaffSession
    kiosk: TerminalSession
    hospital_id: str


def set_up(http: httpx.Client, *, operator: tuple[str, str], tag: str) -> Actors:
    """The platform operator onboards a hospital; its admin registers a kiosk and a cashier."""
    op = StaffSession.login(http, *operator)
    hospital = expect(
        op.request(
            "POST",
            "/v1/hospitals",
            {"name": f"Demo People's Hospital {tag}", "admin_username": f"admin-{tag}",
             "admin_password": ADMIN_PASSWORD},
        ),
        201,
    )  # fmt: skip
    admin = StaffSession.login(http, f"admin-{tag}", ADMIN_PASSWORD)
    kiosk = expect(
        admin.request("POST", "/v1/terminals", {"name": "lobby-1", "kind": "kiosk"}), 201
    )
    staff = {"username": f"cashier-{tag}", "password": STAFF_PASSWORD, "role": "cashier"}
    expect(admin.request("POST", "/v1/staff", staff), 201)
    return Actors(
        operator=op,
        admin=admin,
        cashier=StaffSession.login(http, f"cashier-{tag}", STAFF_PASSWORD),
        kiosk=TerminalSession.from_pem(http, kiosk["id"], kiosk["private_key_pem"]),
        hospital_id=hospital["id"],
    )


def register_and_enrol(
    actors: Actors, patients: list[DemoPatient], engine: FaceEngine, report: DemoReport
) -> list[DemoPatient]:
    """Registry entries, then enrolment at the kiosk; returns those enrolled."""
    enrolled = []
    for index, p in enumerate(patients):
        faces = engine.detect(p.chip_photo)
        quality = assess_frame(p.chip_photo, faces)
        report.faces.append(
            {"patient": p.name, "faces": len(faces), "quality": "ok" if quality.ok
             else ",".join(quality.reasons)}
        )  # fmt: skip
        card = {"id_number": p.id_number, "name": p.name, "sex": p.sex,
                "birth_date": p.birth_date.isoformat()}  # fmt: skip
        expect(
            actors.operator.request(
                "POST",
                "/v1/insured-persons",
                {"id_card": card, "category": "employee_active",
                 "insurance_card_number": f"IC{p.id_number[-8:]}", "phone": p.phone,
                 "personal_account_fen": 200_000},
            ),
            201,
        )  # fmt: skip
        # The kiosk client of `facepay kiosk`; attempt n films with seed 1000 + 10 index + n.
        source = SubjectSource(p.subject, 100 + index)
        machine = Kiosk(actors.kiosk, source, attempts=LIVENESS_ATTEMPTS)
        response = machine.enrolment_response(
            card, p.chip_photo, consent_purpose="pay hospital bills by face"
        )
        body = response.json()
        row = {"patient": p.name, "status": response.status_code,
               "verify_score": body.get("verify_score"), "code": body.get("code", "")}  # fmt: skip
        report.enrolments.append(row)
        if response.status_code == 201:
            enrolled.append(p)
    return enrolled


def pay_once(actors: Actors, patient: DemoPatient, serial: int) -> PaymentSeen | None:
    """Bill posted by the cashier, then the kiosk: challenge, identify, presettle, pay."""
    bill = expect(
        actors.cashier.request(
            "POST",
            "/v1/bills",
            {"external_ref": f"HIS-{serial:05d}-{secrets.token_hex(3)}",
             "id_number": patient.id_number, "visit_type": "inpatient", "hospital_tier": 3,
             "service_date": datetime.now(UTC).date().isoformat(), "lines": bill_lines(serial)},
        ),
        201,
    )  # fmt: skip
    # The kiosk client of `facepay kiosk pay`; attempt n films with seed 10 serial + n.
    machine = Kiosk(
        actors.kiosk, SubjectSource(patient.subject, serial), attempts=LIVENESS_ATTEMPTS
    )
    try:
        payment = machine.pay(bill["id"], second_factor=lambda: patient.phone[-4:])
    except KioskRefused as refused:
        if refused.code.startswith("liveness_"):
            return None  # the kiosk sends the patient to the cashier; the bill stays open
        raise DemoError(f"payment of {bill['id']}: {refused}") from None
    assert machine.last_capture is not None
    frames = machine.last_capture.frames
    return PaymentSeen(
        patient=patient.name,
        decision=payment.identification["decision"],
        split=payment.presettlement["split"],
        server_ms=payment.server_ms,
        bill_id=bill["id"],
        receipt=payment.receipt,
        liveness_retries=payment.retakes,
        frame=frames[len(frames) // 2].rgb,
    )


def _liveness_refused(response: httpx.Response) -> bool:
    """A bona fide synthetic capture refused by liveness: the kiosk asks to try again."""
    if response.status_code != 422:
        return False
    return str(response.json().get("code", "")).startswith("liveness_")


def attack(actors: Actors, patient: DemoPatient) -> dict[str, Any]:
    """A printed photo of an enrolled patient held up to the kiosk."""
    challenge = expect(actors.kiosk.request("POST", "/v1/liveness/challenges"), 201)
    capture = photo_attack(patient.subject, challenge_of(challenge), seed=7)
    response = actors.kiosk.request(
        "POST", "/v1/identifications", {"capture": capture_body(capture)}
    )
    body = response.json()
    return {
        "status": response.status_code,
        "type": body.get("type", ""),
        "detail": body.get("detail", ""),
        "decision": body.get("decision", ""),
        "refused": response.status_code >= 400 or body.get("decision") != "match",
    }


def refund(actors: Actors, report: DemoReport) -> None:
    """Cashier tries a full refund above the limit (refused), admin does it; cashier by line."""
    first, second = report.payments[0], report.payments[1]
    for who, session, payment, body in (
        ("cashier (full)", actors.cashier, first, {}),
        ("admin (full)", actors.admin, first, {}),
        ("cashier (line C01)", actors.cashier, second, {"line_codes": ["C01"]}),
    ):
        response = session.request(
            "POST",
            f"/v1/bills/{payment.bill_id}/refunds",
            body,
            headers={"Idempotency-Key": f"refund-{secrets.token_hex(8)}"},
        )
        answer = response.json()
        report.refunds.append(
            {"who": who, "patient": payment.patient, "status": response.status_code,
             "refunded_fen": answer.get("refunded_fen"), "code": answer.get("code", "")}
        )  # fmt: skip


def fallback(actors: Actors, patient: DemoPatient, serial: int) -> dict[str, Any]:
    """Consent withdrawn (templates erased); the patient pays with ID number + insurance card."""
    person = expect(
        actors.kiosk.request(
            "POST",
            "/v1/identifications/by-credentials",
            {
                "id_number": patient.id_number,
                "insurance_card_number": f"IC{patient.id_number[-8:]}",
            },
        ),
        201,
    )
    erased = expect(
        actors.cashier.request(
            "POST", f"/v1/patients/{person['person_id']}/consent-withdrawals", {"reason": "demo"}
        ),
        201,
    )
    for attempt in range(LIVENESS_ATTEMPTS):
        challenge = expect(actors.kiosk.request("POST", "/v1/liveness/challenges"), 201)
        capture = live_capture(patient.subject, challenge_of(challenge), seed=serial + attempt)
        by_face = actors.kiosk.request(
            "POST", "/v1/identifications", {"capture": capture_body(capture)}
        )
        if not _liveness_refused(by_face):
            break
    return {
        "patient": patient.name,
        "templates_deleted": erased["templates_deleted"],
        "face_after_erasure": by_face.json().get("decision", by_face.json().get("code")),
        "by_card": person["decision"],
    }


def _embedding(engine: FaceEngine, rgb: Any) -> Any:
    faces = engine.detect(rgb)
    return engine.embed(rgb, faces[0]) if faces else None


def run(
    http: httpx.Client,
    *,
    operator: tuple[str, str],
    engine: FaceEngine,
    images_dir: Path,
    payments: int = 30,
    console: Console | None = None,
) -> DemoReport:
    """The whole scenario; `payments` face payments are timed."""
    say = (console or Console(quiet=True)).print
    report = DemoReport()
    actors = set_up(http, operator=operator, tag=secrets.token_hex(3))
    say(f"hospital {actors.hospital_id}: kiosk {actors.kiosk.terminal_id} registered")
    patients = demo_patients(engine, images_dir)
    enrolled = register_and_enrol(actors, patients, engine, report)
    say(f"enrolled {len(enrolled)} of {len(patients)} patients")
    if len(enrolled) < 2:
        raise DemoError("fewer than two patients enrolled")
    chips = {p.name: _embedding(engine, p.chip_photo) for p in enrolled}
    for serial in range(payments):
        patient = enrolled[serial % len(enrolled)]
        seen = pay_once(actors, patient, serial)
        if seen is None:
            report.sent_to_cashier += 1
            continue
        if len(report.payments) < SCORED and (probe := _embedding(engine, seen.frame)) is not None:
            mine = chips[patient.name]
            others = [e for name, e in chips.items() if name != patient.name and e is not None]
            seen.scores = (
                float(mine @ probe) if mine is not None else float("nan"),
                max(float(e @ probe) for e in others) if others else float("nan"),
            )
        seen.frame = None
        report.payments.append(seen)
        if serial % 10 == 9:
            say(f"{serial + 1} payments done")
    report.attack = attack(actors, enrolled[0])
    refund(actors, report)
    report.fallback = fallback(actors, enrolled[-1], payments + 1)
    report.audit = expect(actors.admin.request("GET", "/v1/audit/verification"), 200)
    return report
