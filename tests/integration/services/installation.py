"""An installation with data in it, for the backup and key-rotation tests: services on a test
database and a data folder with a real key file (a `TemplateKeyring`), FAISS, hospitals,
registered people, sealed templates, a gallery file, face-less payments, a refund and a ledger
hold - every kind of row the tables hold, reversals and hold resolutions included."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, insert, select

from facepay.adapters.crypto import TemplateKeyring
from facepay.adapters.db.snapshot import portable
from facepay.adapters.db.tables import face_templates, insured_persons, metadata
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.adapters.interchange import shipped_policies
from facepay.bootstrap import build_gallery
from facepay.config import Settings
from facepay.demo.people import id_number
from facepay.gallery.ports import Sealer
from facepay.identity.id_card import IdCard
from facepay.identity.records import TemplateRecord
from facepay.insurance.model import Bill, BillLine
from facepay.ledger.accounts import AccountKind, account_id
from facepay.ledger.transfers import PostingRequest, TransferSpec
from facepay.services.admin import register_hospital, register_insured_person
from facepay.services.bills import pay_bill, post_bill
from facepay.services.context import Services
from facepay.services.identification import identify_by_credentials
from facepay.services.ledger import post_transfers
from facepay.services.refunds import refund_bill
from facepay.services.template_integrity import require_template_key
from facepay.shared.clock import SystemClock
from facepay.vision.fake_engine import FakeFaceEngine
from facepay.vision.liveness import ChallengeBook, LivenessPolicy

MODEL = "dlib-resnet-v1"
"""The real model's version, so that `facepay admin check` looks at these templates."""
HOSPITALS = ("h1", "h2")


def services(engine: Engine, folder: Path, *, database_url: str | None = None) -> Services:
    """Services on `engine` with the key file and gallery file of `folder`."""
    values: dict[str, Any] = {"data_dir": folder}
    if database_url is not None:
        values["database_url"] = database_url
    settings = Settings(**values)
    face = FakeFaceEngine(model_version=MODEL)
    return Services(
        settings=settings,
        engine=face,
        gallery=build_gallery(settings, dim=face.embedding_dim, model_version=MODEL),
        sealer=TemplateKeyring(settings.resolved_template_key_file()),
        liveness=LivenessPolicy(engine=face),
        challenges=ChallengeBook(),
        policies=shipped_policies(),
        uow=lambda: SqlAlchemyUnitOfWork(engine),
        clock=SystemClock(),
        gallery_path=folder / "gallery.sealed",
    )


def card(serial: int) -> tuple[IdCard, str]:
    """An ID card and insurance card number, distinct per serial."""
    born = date(1950 + serial % 50, 1 + serial % 12, 1 + serial % 28)
    number = id_number(born, serial, male=True)
    return IdCard(number, f"Person {serial}", "M", born), f"IC{serial:08d}"


def register(ctx: Services, serial: int, *, fen: int = 500_000) -> str:
    """Register one insured person with a funded personal account; their id."""
    id_card, insurance = card(serial)
    person = register_insured_person(
        ctx=ctx,
        actor="platform",
        id_card=id_card,
        category="employee_active",
        insurance_card_number=insurance,
        personal_account_fen=fen,
    )
    return person.id


def unit_vector(seed: int) -> np.ndarray:
    """A random unit embedding."""
    v = np.random.default_rng(seed).normal(size=128).astype("<f4")
    return v / np.linalg.norm(v)


def add_template(ctx: Services, person_id: str, hospital: str, seed: int) -> str:
    """Seal and store a template the way enrolment does (sealer, then one unit of work)."""
    template_id = f"tpl_{seed:06d}_{hospital}"
    sealed = ctx.sealer.seal(
        unit_vector(seed).tobytes(), template_id=template_id, model_version=MODEL
    )
    record = TemplateRecord(
        template_id, person_id, hospital, MODEL, sealed, datetime.now(UTC), scope=f"site:{hospital}"
    )
    with ctx.uow() as uow:
        uow.templates.add(record)
        uow.commit()
    return template_id


def bill(fen: int) -> Bill:
    """An outpatient bill: a class-A drug and a class-C item."""
    lines = (
        BillLine("A1", "drug", "A", fen, Decimal(1)),
        BillLine("C1", "extra", "C", 5_000, Decimal(1)),
    )
    return Bill("outpatient", 2, datetime.now(UTC).date() - timedelta(days=1), lines)


def pay(ctx: Services, hospital: str, serial: int, fen: int, ref: str) -> Any:
    """Identify by ID number + insurance card, post a bill and pay it."""
    id_card, insurance = card(serial)
    found = identify_by_credentials(
        ctx=ctx, hospital_id=hospital, actor="kiosk", id_number=id_card.id_number,
        insurance_card_number=insurance,
    )  # fmt: skip
    posted = post_bill(
        ctx=ctx, hospital_id=hospital, actor="his", id_number=id_card.id_number,
        external_ref=ref, bill=bill(fen),
    )  # fmt: skip
    return pay_bill(
        ctx=ctx, hospital_id=hospital, actor="kiosk", bill_id=posted.id,
        identification_id=found.identification_id, idempotency_key=f"pay-{ref}",
    )  # fmt: skip


def populate(ctx: Services, *, people: int = 12) -> dict[str, Any]:
    """Fill the installation: hospitals, people with templates, the gallery file, payments,
    a refund and a resolved ledger hold; returns the ids made."""
    from facepay.services.gallery_sync import load_gallery  # noqa: PLC0415

    for hospital in HOSPITALS:
        register_hospital(ctx=ctx, actor="platform", name=hospital, hospital_id=hospital)
    persons = [register(ctx, serial) for serial in range(people)]
    require_template_key(ctx=ctx, sealer=ctx.sealer, model_version=MODEL)
    templates = [add_template(ctx, p, "h1", n) for n, p in enumerate(persons)]
    templates += [add_template(ctx, persons[0], "h2", 1000)]
    load_gallery(ctx=ctx)  # rebuilt from the templates table, and the file written
    paid = [
        pay(ctx, "h1", 1, 300_000, "a"),
        pay(ctx, "h2", 2, 120_000, "b"),
        pay(ctx, "h1", 3, 80_000, "c"),
    ]
    refund_bill(
        ctx=ctx, hospital_id="h1", actor="cashier", bill_id=paid[0].bill.id, reversal_key="r-a"
    )
    personal = account_id(AccountKind.PERSONAL_ACCOUNT, persons[4])
    cash = account_id(AccountKind.CASH_CLEARING, "cash")
    hold = TransferSpec.hold(personal, cash, 1_000, "test.hold", timeout_seconds=None)
    held = post_transfers(uow=ctx.uow(), request=PostingRequest("hold-1", (hold,)))
    post_transfers(
        uow=ctx.uow(),
        request=PostingRequest("post-1", (TransferSpec.post(held.transfers[0].id, "test.post"),)),
    )
    return {"persons": persons, "templates": templates, "bills": [p.bill.id for p in paid]}


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every facepay table, as comparable values, in a stable order."""
    out = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            rows = connection.execute(select(table)).all()
            values = [tuple(_comparable(v) for v in row) for row in rows]
            out[table.name] = sorted(values, key=repr)
    return out


def _comparable(value: Any) -> Any:
    value = portable(value)
    return bool(value) if isinstance(value, bool) else value


def with_sealer(ctx: Services, sealer: Any) -> Services:
    """The same services with another sealer (a second process's keyring)."""
    return dataclasses.replace(ctx, sealer=sealer)


def add_many_templates(
    sealer: Sealer, engine: Engine, count: int, *, start: int = 100_000, hospital: str = "h1"
) -> list[str]:
    """`count` registry entries with a template each at `hospital`, inserted in bulk (set-up
    for the rotation timings; the sealing is the sealer's, as in enrolment)."""
    people, templates = [], []
    for serial in range(start, start + count):
        id_card, insurance = card(serial)
        person_id, template_id = f"psn_bulk{serial}", f"tpl_bulk{serial}"
        people.append({
            "id": person_id, "id_number": f"9{serial:017d}", "name": id_card.name, "sex": "M",
            "birth_date": id_card.birth_date, "category": "employee_active",
            "insurance_card_number": insurance, "phone": None, "medical_assistance": False,
        })  # fmt: skip
        sealed = sealer.seal(
            unit_vector(serial).tobytes(), template_id=template_id, model_version=MODEL
        )
        templates.append({
            "id": template_id, "person_id": person_id, "hospital_id": hospital,
            "model_version": MODEL, "sealed": sealed, "created_at": datetime.now(UTC),
            "scope": f"site:{hospital}",
        })  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(insured_persons), people)
        connection.execute(insert(face_templates), templates)
    return [t["id"] for t in templates]


def enrol_like_a_server(ctx: Services, serial: int) -> str:
    """What enrolment does with the face once it is accepted: register the person, seal and
    store the template, add it to the gallery and save the gallery file."""
    from facepay.services.gallery_sync import save_gallery  # noqa: PLC0415

    person = register(ctx, serial)
    template_id = add_template(ctx, person, "h1", serial)
    with ctx.gallery_lock:
        ctx.gallery.add(template_id, unit_vector(serial), scope="site:h1")
    save_gallery(ctx=ctx)
    return template_id
