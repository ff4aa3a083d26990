"""Real use cases: the real dlib engine (once per session), captures synthesised once from the
sample photos, FAISS, sealed templates, and each database of tests/integration/conftest.py."""

from __future__ import annotations

import dataclasses
import io
import random
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Literal

import pytest
from PIL import Image
from sqlalchemy import Engine

from facepay.adapters.crypto import TemplateSealer
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.adapters.interchange import parse_bill, shipped_policies
from facepay.bootstrap import build_face_engine, build_gallery
from facepay.config import Settings
from facepay.identity.id_card import IdCard, check_digit
from facepay.identity.records import BiometricConsent
from facepay.insurance.model import Bill
from facepay.services.admin import register_hospital, register_insured_person
from facepay.services.context import Services
from facepay.services.enrolment import Enrolment, enrol_patient
from facepay.services.face_cache import CachingFaceEngine
from facepay.shared.clock import SystemClock
from facepay.vision.dlib_engine import DlibFaceEngine
from facepay.vision.image import load_image
from facepay.vision.liveness import Capture, ChallengeBook, LivenessPolicy, TerminalCapabilities
from facepay.vision.liveness.evaluation import load_subjects
from facepay.vision.liveness.synth.attacks import printed_photo
from facepay.vision.liveness.synth.bona_fide import Subject, bona_fide_capture

PASSIVE = TerminalCapabilities(depth=True, infrared=True)
KIOSK = TerminalCapabilities()


def _number(born: date, serial: str) -> str:
    body = f"110105{born:%Y%m%d}{serial}"
    return body + check_digit(body)


@dataclass(frozen=True)
class Person:
    """Someone of the sample photos, as the ID card and the registry know them."""

    card: IdCard
    insurance_card: str
    phone: str
    chip: str
    """The photo file on the ID card's chip."""


OBAMA = Person(
    IdCard(_number(date(1961, 8, 4), "011"), "Barack Obama", "M", date(1961, 8, 4)),
    "INS-OBAMA",
    "13800001961",
    "obama.jpg",
)
BIDEN = Person(
    IdCard(_number(date(1942, 11, 20), "013"), "Joe Biden", "M", date(1942, 11, 20)),
    "INS-BIDEN",
    "13800001942",
    "biden.jpg",
)
OBAMA_AGAIN = Person(  # another ID number for the same face: a lent or forged card
    IdCard(_number(date(1970, 1, 1), "015"), "Barry Soetoro", "M", date(1970, 1, 1)),
    "INS-BARRY",
    "13800001970",
    "obama3.jpg",
)


@pytest.fixture(scope="session")
def face_engine() -> CachingFaceEngine:
    """The real dlib models, loaded once."""
    engine: DlibFaceEngine = build_face_engine(Settings())
    return CachingFaceEngine(engine)


@pytest.fixture(scope="session")
def subjects(face_engine: CachingFaceEngine, images_dir: Path) -> dict[str, Subject]:
    """Live faces: Obama from obama2.jpg (his chip photo is obama.jpg) and from obama3.jpg,
    Biden from biden.jpg."""
    photos = (("obama2.jpg", "obama"), ("obama3.jpg", "obama3"), ("biden.jpg", "biden"))
    return {s.person: s for s in load_subjects(face_engine.inner, images_dir, photos)}


@pytest.fixture(scope="session")
def captures(subjects: dict[str, Subject]) -> dict[str, Capture]:
    """Passive (depth + IR terminal) captures, synthesised once: bona fide and a photo attack."""
    now = datetime.now(UTC)
    out = {
        name: bona_fide_capture(
            subjects[name],
            challenge=None,
            capabilities=PASSIVE,
            started_at=now,
            rng=random.Random(7),
        )
        for name in ("obama", "obama3", "biden")
    }
    out["obama_print"] = printed_photo(
        subjects["obama"],
        challenge=None,
        capabilities=PASSIVE,
        started_at=now,
        rng=random.Random(8),
        moved=True,
    )
    return out


@pytest.fixture(scope="session")
def chip_photos(images_dir: Path) -> dict[str, bytes]:
    """ID chip photos as JPEG bytes."""
    out = {}
    for name in ("obama.jpg", "obama3.jpg", "biden.jpg"):
        buffer = io.BytesIO()
        Image.fromarray(load_image(images_dir / name)).save(buffer, format="JPEG", quality=90)
        out[name] = buffer.getvalue()
    return out


def make_services(engine: Engine, face_engine: CachingFaceEngine, folder: Path) -> Services:
    """Services on the test database, FAISS and a fresh template key."""
    settings = Settings(data_dir=folder)
    return Services(
        settings=settings,
        engine=face_engine,
        gallery=build_gallery(
            settings, dim=face_engine.embedding_dim, model_version=face_engine.model_version
        ),
        sealer=TemplateSealer(secrets.token_bytes(32)),
        liveness=LivenessPolicy(engine=face_engine),
        challenges=ChallengeBook(),
        policies=shipped_policies(),
        uow=lambda: SqlAlchemyUnitOfWork(engine),
        clock=SystemClock(),
        gallery_path=folder / "gallery.sealed",
    )


@pytest.fixture
def ctx(engine: Engine, face_engine: CachingFaceEngine, tmp_path: Path) -> Services:
    """Services with hospitals h1 and h2 and Obama, Biden and "Barry" in the registry."""
    services = make_services(engine, face_engine, tmp_path)
    for hospital in ("h1", "h2"):
        register_hospital(ctx=services, actor="admin", name=hospital, hospital_id=hospital)
    for person in (OBAMA, BIDEN, OBAMA_AGAIN):
        register_insured_person(
            ctx=services,
            actor="admin",
            id_card=person.card,
            category="employee_active",
            insurance_card_number=person.insurance_card,
            phone=person.phone,
            personal_account_fen=200_000,
        )
    return services


def consent() -> BiometricConsent:
    """A consent recorded at the desk now."""
    return BiometricConsent("face_payment", "identify and pay", datetime.now(UTC), "desk-1")


def enrol(
    ctx: Services,
    person: Person,
    capture: Capture,
    chip_photos: dict[str, bytes],
    hospital: str = "h1",
    reach: Literal["region", "site"] | None = None,
) -> Enrolment:
    """Enrol `person` at the registration desk: their card, chip photo and live capture, with
    a consent of `reach` (None: the site's default)."""
    return enrol_patient(
        ctx=ctx,
        hospital_id=hospital,
        actor="desk-1",
        id_card=person.card,
        chip_photo=chip_photos[person.chip],
        capture=capture,
        consent=dataclasses.replace(consent(), reach=reach),
    )


def bill(fen: int) -> Bill:
    """An outpatient bill: a class-A drug of `fen` and a class-C item of 50 yuan."""
    return parse_bill(
        {
            "visit_type": "outpatient",
            "hospital_tier": 2,
            "service_date": "2026-05-04",
            "lines": [
                {
                    "code": "A1",
                    "name": "drug",
                    "item_class": "A",
                    "unit_price": fen,
                    "quantity": "1",
                },
                {
                    "code": "C1",
                    "name": "extra",
                    "item_class": "C",
                    "unit_price": 5_000,
                    "quantity": "1",
                },
            ],
        }
    )


@pytest.fixture
def kit() -> ModuleType:
    """This module's helpers and people."""
    return sys.modules[__name__]
