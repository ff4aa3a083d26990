"""What worker processes share through the database: a challenge redeemed once however many
workers race for it, one rate per caller across workers, and the template journal."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine

from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.hospital.tenants import Hospital
from facepay.identity.records import InsuredPerson, TemplateRecord
from facepay.services.shared_state import SharedTokenBuckets, StoredChallengeBook
from facepay.shared.errors import RateLimited
from facepay.vision.liveness.challenge import ChallengeStatus, issue_challenge

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _uow(engine: Engine):
    return lambda: SqlAlchemyUnitOfWork(engine, lock_timeout_ms=5_000)


def test_a_challenge_issued_by_one_worker_is_redeemed_once_across_all(engine: Engine) -> None:
    issuing, others = StoredChallengeBook(_uow(engine)), [StoredChallengeBook(_uow(engine))] * 8
    challenge = issuing.add(issue_challenge(now=NOW))
    assert others[0].peek(challenge.nonce, now=NOW)[0] is ChallengeStatus.VALID
    start = threading.Barrier(len(others))

    def redeem(book: StoredChallengeBook) -> ChallengeStatus:
        start.wait()
        return book.redeem(challenge.nonce, now=NOW)[0]

    with ThreadPoolExecutor(len(others)) as pool:
        answers = list(pool.map(redeem, others))
    assert sorted(answers) == sorted([ChallengeStatus.VALID] + [ChallengeStatus.REUSED] * 7)
    status, redeemed = issuing.redeem(challenge.nonce, now=NOW)
    assert status is ChallengeStatus.REUSED
    assert redeemed is None
    assert issuing.redeem("never-issued", now=NOW)[0] is ChallengeStatus.UNKNOWN


def test_a_challenge_keeps_its_steps_and_expires(engine: Engine) -> None:
    book = StoredChallengeBook(_uow(engine))
    challenge = book.add(issue_challenge(now=NOW, ttl_seconds=30))
    later = NOW + timedelta(seconds=31)
    status, found = book.redeem(challenge.nonce, now=later)
    assert status is ChallengeStatus.EXPIRED
    assert found == challenge
    assert book.purge(now=later) == 1
    assert len(book) == 0


def test_two_workers_spend_from_one_bucket(engine: Engine) -> None:
    clock = [1_000.0]
    workers = [
        SharedTokenBuckets(_uow(engine), name="t", rate=1.0, burst=5, clock=lambda: clock[0])
        for _ in range(2)
    ]
    for i in range(5):
        workers[i % 2].take("kiosk-1")
    for worker in workers:
        with pytest.raises(RateLimited) as limited:
            worker.take("kiosk-1")
        assert 0 < limited.value.retry_after <= 1.0
    workers[0].take("kiosk-2")  # another caller's bucket is its own
    clock[0] += 2.0
    workers[1].take("kiosk-1")
    workers[0].take("kiosk-1")
    with pytest.raises(RateLimited):
        workers[1].take("kiosk-1")


def test_a_bucket_under_concurrent_takers_never_gives_more_than_its_burst(engine: Engine) -> None:
    buckets = SharedTokenBuckets(_uow(engine), name="c", rate=0.0, burst=10, clock=lambda: 5.0)
    start = threading.Barrier(8)

    def take_all() -> int:
        start.wait()
        got = 0
        for _ in range(5):
            try:
                buckets.take("hot")
            except RateLimited:
                continue
            got += 1
        return got

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(lambda _: take_all(), range(8))) == 10


def _template(template_id: str, scope: str = "site:h1") -> TemplateRecord:
    model = f"m-{template_id}"  # one template per person, site and model
    return TemplateRecord(template_id, "p1", "h1", model, b"sealed", NOW, scope=scope)


def test_every_template_change_is_journalled_in_its_transaction(engine: Engine) -> None:
    uow = _uow(engine)
    with uow() as u:
        u.tenants.add_hospital(Hospital("h1", "H", NOW))
        u.people.add(_person())
        u.templates.add(_template("t1"))
        u.templates.add(_template("t2", "region:rgn-default"))
        u.commit()
    with uow() as u:
        u.templates.add(_template("t3"))
        # rolled back: neither the row nor its journal entry stays
    with uow() as u:
        u.templates.quarantine("t1", at=NOW, reason="damaged")
        u.templates.delete(["t1", "t2"])  # t1 was quarantined: removed from matching already
        u.commit()
    with uow() as u:
        changes = [(c.op, c.template_id, c.scope) for c in u.templates.changes_after(0, limit=9)]
        last = u.templates.last_change()
    assert changes == [
        ("add", "t1", "site:h1"),
        ("add", "t2", "region:rgn-default"),
        ("remove", "t1", "site:h1"),
        ("remove", "t2", "region:rgn-default"),
    ]
    assert last >= 4


def _person() -> InsuredPerson:
    return InsuredPerson("p1", "110101198001010011", "A", "M", date(1980, 1, 1), "x", "c1")
