"""FHIR rest-hook subscriptions on both databases: the delivery lease is a compare-and-set that
exactly one of several racing workers wins, only its holder records progress, an expired lease
can be taken over, and a subscription turned off stays off."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.hospital.his_subscriptions import HisSubscription
from facepay.hospital.tenants import Hospital

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
SUB = HisSubscription(
    id="sub_" + "1" * 32,
    hospital_id="hsub",
    criteria="PaymentNotice?",
    endpoint="http://127.0.0.1:9/hook",
    status="active",
    cursor=7,
    created_by="terminal:his",
    created_at=T0,
    reason="billing",
)


def _seed(engine: Engine) -> None:
    with SqlAlchemyUnitOfWork(engine) as uow:
        uow.tenants.add_hospital(Hospital(id="hsub", name="Sub Hospital", created_at=T0))
        uow.subscriptions.add(SUB)
        uow.commit()


def _lease(engine: Engine, owner: str, now: datetime) -> bool:
    with SqlAlchemyUnitOfWork(engine) as uow:
        taken = uow.subscriptions.lease(
            SUB.id, owner=owner, now=now, until=now + timedelta(seconds=60)
        )
        uow.commit()
    return taken


def _record(engine: Engine, owner: str, cursor: int, *, release: bool) -> bool:
    with SqlAlchemyUnitOfWork(engine) as uow:
        kept = uow.subscriptions.record(
            SUB.id,
            owner=owner,
            cursor=cursor,
            status="active",
            failures=0,
            next_attempt_at=None,
            last_error=None,
            release=release,
        )
        uow.commit()
    return kept


def test_one_racing_worker_wins_the_lease_and_only_it_records(engine: Engine) -> None:
    _seed(engine)
    with ThreadPoolExecutor(max_workers=4) as pool:
        won = list(pool.map(lambda n: _lease(engine, f"w{n}", T0), range(4)))
    assert won.count(True) == 1
    winner = f"w{won.index(True)}"
    loser = next(f"w{n}" for n in range(4) if f"w{n}" != winner)
    with SqlAlchemyUnitOfWork(engine) as uow:
        assert uow.subscriptions.due(now=T0, limit=10) == []  # leased: not due
    assert not _record(engine, loser, 99, release=True)
    assert _record(engine, winner, 9, release=False)
    # The lease expires: another worker takes it over, and the old holder writes nothing.
    later = T0 + timedelta(seconds=61)
    assert _lease(engine, loser, later)
    assert not _record(engine, winner, 10, release=True)
    assert _record(engine, loser, 11, release=True)
    with SqlAlchemyUnitOfWork(engine) as uow:
        stored = uow.subscriptions.get(SUB.id, "hsub")
        assert uow.subscriptions.get(SUB.id, "other") is None
        due = uow.subscriptions.due(now=later, limit=10)
    assert stored is not None
    assert (stored.cursor, stored.lease_owner) == (11, None)
    assert [s.id for s in due] == [SUB.id]


def test_a_subscription_turned_off_stays_off(engine: Engine) -> None:
    _seed(engine)
    assert _lease(engine, "w1", T0)
    with SqlAlchemyUnitOfWork(engine) as uow:
        uow.subscriptions.save(HisSubscription(**{**SUB.__dict__, "status": "off"}))
        uow.commit()
    assert _record(engine, "w1", 12, release=True)
    with SqlAlchemyUnitOfWork(engine) as uow:
        stored = uow.subscriptions.get(SUB.id, "hsub")
        assert uow.subscriptions.due(now=T0 + timedelta(days=1), limit=10) == []
    assert stored is not None
    assert (stored.status, stored.cursor) == ("off", 12)
