"""A `Services` on the in-memory unit of work and a fake engine that knows people by pixel value.

Every frame or photo is one flat colour; the engine finds one face in it and embeds it as the
person named by that colour, so a test says who is in front of the camera by painting the frame.
"""

from __future__ import annotations

import io
import secrets
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from facepay.adapters.crypto import TemplateSealer
from facepay.adapters.interchange import parse_bill, shipped_policies
from facepay.config import Settings
from facepay.gallery.memory import InMemoryGallery
from facepay.identity.id_card import IdCard, check_digit, sex_of
from facepay.identity.records import BiometricConsent
from facepay.insurance.model import Bill
from facepay.ledger.accounts import AccountKind
from facepay.services.admin import register_hospital, register_insured_person
from facepay.services.context import Services
from facepay.services.enrolment import Enrolment, enrol_patient
from facepay.services.ledger import open_accounts
from facepay.services.memory import InMemoryStore, InMemoryUnitOfWork
from facepay.shared.clock import FixedClock
from facepay.vision.fake_engine import frontal_landmarks, identity_vector
from facepay.vision.liveness import (
    Capture,
    ChallengeBook,
    CheckResult,
    Frame,
    LivenessPolicy,
    TerminalCapabilities,
)
from facepay.vision.liveness.checks.base import AttackType, Evidence
from facepay.vision.types import BoundingBox, Embedding, Face, RGBImage

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
PASSIVE = TerminalCapabilities(depth=True, infrared=True)


class PixelEngine:
    """One face per image; its identity is the image's colour."""

    model_version = "pixel-v1"
    embedding_dim = 128

    def detect(self, image: RGBImage) -> list[Face]:
        """A face filling the middle of the image."""
        h, w = image.shape[:2]
        box = BoundingBox(left=w // 4, top=h // 4, right=3 * w // 4, bottom=3 * h // 4)
        return [Face(box=box, score=1.0, landmarks=frontal_landmarks(box))]

    def embed(self, image: RGBImage, face: Face) -> Embedding:
        """The vector of the colour's person."""
        return identity_vector(f"person-{int(image[0, 0, 0])}", self.embedding_dim)


@dataclass
class SpoofSwitch:
    """A liveness check the test can turn into a print-attack verdict."""

    spoof: bool = False
    name: str = "switch"

    def run(self, evidence: Evidence) -> CheckResult:
        """Pass unless told to spoof."""
        return CheckResult(
            self.name, 0.0 if self.spoof else 1.0, not self.spoof, "test", attack=AttackType.PRINT
        )


def person_number(seed: int, *, born: date = date(1980, 1, 2), male: bool = True) -> str:
    """A valid 18-character ID number."""
    serial = f"{(seed * 2 + (1 if male else 0)) % 1000:03d}"
    body = f"110105{born:%Y%m%d}{serial}"
    return body + check_digit(body)


def id_card(seed: int, name: str) -> IdCard:
    """The ID card of person `seed`."""
    number = person_number(seed)
    return IdCard(number, name, sex_of(number), date(1980, 1, 2))


def frame_of(colour: int) -> RGBImage:
    """A flat frame of one colour."""
    return np.full((120, 120, 3), colour, dtype=np.uint8)


def photo_of(colour: int) -> bytes:
    """A PNG photo of one colour (the ID chip photo)."""
    out = io.BytesIO()
    Image.fromarray(frame_of(colour)).save(out, format="PNG")
    return out.getvalue()


def capture_of(colour: int, clock: FixedClock) -> Capture:
    """Eight frames over 1.4 s of the person `colour`."""
    frames = tuple(Frame(t=0.2 * i, rgb=frame_of(colour)) for i in range(8))
    return Capture(frames, PASSIVE, clock.now())


def consent(clock: FixedClock) -> BiometricConsent:
    """A consent recorded by the desk."""
    return BiometricConsent("face_payment", "identification and payment", clock.now(), "desk-1")


def outpatient_bill(fen: int) -> Bill:
    """An outpatient bill of two lines (class A and class C)."""
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


@dataclass
class World:
    """A hospital `h1` (and `h2`), its services and the in-memory store behind them."""

    ctx: Services
    store: InMemoryStore
    clock: FixedClock
    switch: SpoofSwitch
    people: dict[str, str] = field(default_factory=dict)


def make_world(**settings: object) -> World:
    """Fresh services with two hospitals and the chart of accounts."""
    store = InMemoryStore()
    clock = FixedClock(T0)
    switch = SpoofSwitch()
    engine = PixelEngine()
    ctx = Services(
        settings=Settings(gallery_backend="memory", **settings),  # type: ignore[arg-type]
        engine=engine,
        gallery=InMemoryGallery(dim=128, model_version=engine.model_version),
        sealer=TemplateSealer(secrets.token_bytes(32)),
        liveness=LivenessPolicy(engine=engine, checks=[switch]),
        challenges=ChallengeBook(),
        policies=shipped_policies(),
        uow=lambda: InMemoryUnitOfWork(store),
        clock=clock,
    )
    chart = [(AccountKind.FUND_POOL, f) for f in ("hifp", "hifmi", "maf", "acct")]
    chart += [(AccountKind.CASH_CLEARING, "cash")]
    open_accounts(uow=InMemoryUnitOfWork(store), accounts=chart)
    for hospital in ("h1", "h2"):
        register_hospital(ctx=ctx, actor="admin", name=hospital, hospital_id=hospital)
    return World(ctx, store, clock, switch)


def register(world: World, seed: int, name: str, *, account: int = 100_000) -> str:
    """Put person `seed` in the registry (phone ending in 12{seed:02d}); returns the person id."""
    person = register_insured_person(
        ctx=world.ctx,
        actor="admin",
        id_card=id_card(seed, name),
        category="employee_active",
        insurance_card_number=f"CARD{seed:04d}",
        phone=f"1380000{1200 + seed:04d}",
        personal_account_fen=account,
    )
    world.people[name] = person.id
    return person.id


def enrol(world: World, seed: int, name: str, colour: int, hospital: str = "h1") -> Enrolment:
    """Enrol person `seed` at the desk of `hospital`, their face painted `colour`."""
    return enrol_patient(
        ctx=world.ctx,
        hospital_id=hospital,
        actor="desk-1",
        id_card=id_card(seed, name),
        chip_photo=photo_of(colour),
        capture=capture_of(colour, world.clock),
        consent=consent(world.clock),
    )


@pytest.fixture
def kit() -> ModuleType:
    """This module: the helpers above, for tests that cannot import a conftest."""
    return sys.modules[__name__]


@pytest.fixture
def world() -> World:
    """Fresh in-memory services with Alice (colour 10) and Bob (colour 20) registered."""
    w = make_world()
    register(w, 10, "Alice")
    register(w, 20, "Bob")
    return w
