"""Hot accounts without a hot row: payments add to the shared fund-pool, receivable, revenue and
clearing accounts through `account_deltas`, never waiting for each other there, while bounded
accounts stay locked and checked; roll-ups fold the deltas in exactly once, even while payments
and other roll-ups run. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from facepay.adapters.interchange import parse_bill
from facepay.ledger.accounts import AccountKind, account_id, hospital_receivable
from facepay.services.ledger import roll_up_balances
from facepay.services.payments import CASH_CLEARING, Payer, settle_and_post
from facepay.services.ports import StorageBusy
from facepay.shared.errors import InsufficientFunds

POOL = account_id(AccountKind.FUND_POOL, "hifp")
REVENUE = account_id(AccountKind.HOSPITAL_REVENUE, "h1")
PEOPLE = [f"p{n}" for n in range(8)]


def _books_balance(db) -> None:
    """Σdebits = Σcredits posted and pending over the exact totals; no bounded account over."""
    totals = db.totals()
    assert sum(t[0] for t in totals.values()) == sum(t[1] for t in totals.values())
    assert sum(t[2] for t in totals.values()) == sum(t[3] for t in totals.values())
    with db.engine.connect() as conn:
        over = conn.execute(
            text(
                "SELECT id FROM account_totals WHERE (flags & 1) = 1"
                " AND debits_posted + debits_pending > credits_posted"
            )
        ).all()
    assert over == []


def _pay(db, policy, person: str, key: str, fen: int):
    return settle_and_post(
        hospital_id="h1",
        uow=db.uow(),
        bill=db.outpatient_bill(fen),
        payer=Payer(person_id=person, category="employee_active"),
        policy=policy,
        idempotency_key=key,
    )


def _fund_bill():
    """An outpatient bill the pooled fund pays a part of (class A, above the deductible)."""
    line = {"code": "A01", "name": "drug", "item_class": "A", "unit_price": 300_000}
    return parse_bill(
        {
            "visit_type": "outpatient",
            "hospital_tier": 2,
            "service_date": "2026-05-04",
            "lines": [{**line, "quantity": "1"}],
        }
    )


def test_payments_of_eight_people_with_roll_ups_running_keep_exact_books(db, employee_policy):
    for person in PEOPLE:
        db.open_funded_person(person, 5_000)
    stop = threading.Event()
    folded = []

    def roller() -> None:
        while not stop.is_set():
            folded.append(roll_up_balances(uow=db.uow()))

    def payer(person: str) -> list[object]:
        outcomes: list[object] = []
        for i in range(8):
            try:
                outcomes.append(_pay(db, employee_policy, person, f"{person}-{i}", 1_000))
            except (InsufficientFunds, StorageBusy) as refused:
                outcomes.append(refused)
        return outcomes

    rollers = [threading.Thread(target=roller) for _ in range(2)]
    for thread in rollers:
        thread.start()
    with ThreadPoolExecutor(max_workers=len(PEOPLE)) as pool:
        results = [r for batch in pool.map(payer, PEOPLE) for r in batch]
    stop.set()
    for thread in rollers:
        thread.join(60)
    settled = [r for r in results if not isinstance(r, Exception)]
    assert len(settled) == db.count("settlements") == 64  # the cash part covers the rest
    acct_paid = sum(r.record.settlement.acct_pay for r in settled)
    assert acct_paid == 8 * 5_000  # every personal account paid exactly what it held
    assert db.balance(REVENUE) == 64 * 1_000
    assert db.balance(CASH_CLEARING) == 64 * 1_000 - acct_paid
    _books_balance(db)
    before = db.totals()
    roll_up_balances(uow=db.uow())
    assert db.count("account_deltas") == 0
    assert db.totals() == before  # folding changes no total
    with db.engine.connect() as conn:  # and now the rows alone hold them
        rows = dict(conn.execute(text("SELECT id, credits_posted FROM accounts")).all())
    assert rows[REVENUE] == 64 * 1_000


def test_a_payment_does_not_wait_for_another_holding_the_shared_accounts(db, employee_policy):
    """One payment's transaction stays open after posting to the fund pool and the hospital's
    accounts; another person's payment into the very same accounts commits meanwhile."""
    db.open_funded_person("p0", 0)
    db.open_funded_person("p1", 0)
    bill = _fund_bill()
    holding, release = threading.Event(), threading.Event()

    def open_payment() -> None:
        with db.uow() as uow:
            from facepay.services.payments import settle_in_transaction  # noqa: PLC0415
            from facepay.shared.clock import SystemClock  # noqa: PLC0415

            settle_in_transaction(
                uow,
                hospital_id="h1",
                bill=bill,
                payer=Payer(person_id="p0", category="employee_active"),
                policy=employee_policy,
                idempotency_key="held",
                now=SystemClock().now(),
            )
            holding.set()
            release.wait(30)
            uow.commit()

    holder = threading.Thread(target=open_payment)
    holder.start()
    try:
        assert holding.wait(10)
        if db.engine.dialect.name == "postgresql":
            began = time.perf_counter()
            receipt = settle_and_post(
                hospital_id="h1",
                uow=db.uow(lock_timeout_ms=5_000),
                bill=bill,
                payer=Payer(person_id="p1", category="employee_active"),
                policy=employee_policy,
                idempotency_key="free",
            )
            assert time.perf_counter() - began < 2.0
            assert holder.is_alive()
            assert {t.debit_account_id for t in receipt.transfers} >= {POOL}
        else:  # SQLite: one writer at a time, whatever the accounts
            with pytest.raises(StorageBusy):
                settle_and_post(
                    hospital_id="h1",
                    uow=db.uow(lock_timeout_ms=300),
                    bill=bill,
                    payer=Payer(person_id="p1", category="employee_active"),
                    policy=employee_policy,
                    idempotency_key="free",
                )
    finally:
        release.set()
        holder.join(30)
    _books_balance(db)
    assert db.balance(hospital_receivable("h1", "hifp")) == db.balance(POOL) * -1


def test_a_bounded_account_is_still_locked_and_checked(db, employee_policy):
    """Twenty payments from one personal account at once: it never goes below zero."""
    db.open_funded_person("p0", 3_000)
    with ThreadPoolExecutor(max_workers=10) as pool:
        receipts = list(
            pool.map(lambda i: _pay(db, employee_policy, "p0", f"k{i}", 1_000), range(20))
        )
    assert sum(r.record.settlement.acct_pay for r in receipts) == 3_000
    assert db.balance(account_id(AccountKind.PERSONAL_ACCOUNT, "p0")) == 0
    _books_balance(db)


def test_a_downgrade_below_0013_folds_every_delta_into_its_row(db, employee_policy):
    from facepay.adapters.db.migrate import downgrade, upgrade  # noqa: PLC0415

    db.open_funded_person("p0", 1_000)
    _pay(db, employee_policy, "p0", "k", 300_000)
    exact = db.totals()
    assert db.count("account_deltas") > 0
    downgrade(db.engine, "0012")
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, debits_posted, credits_posted, debits_pending, credits_pending"
                " FROM accounts"
            )
        )
        assert {row[0]: tuple(row[1:]) for row in rows} == exact
    upgrade(db.engine)
    assert db.totals() == exact


def test_the_scheduled_upkeep_rolls_up_what_payments_added(db, employee_policy):
    """The server's upkeep folds the deltas into the rows (it returned before doing so, and
    account_deltas grew by a row per posting for good)."""
    from types import SimpleNamespace  # noqa: PLC0415

    from facepay.services.upkeep import run_upkeep  # noqa: PLC0415
    from facepay.shared.clock import SystemClock  # noqa: PLC0415
    from facepay.vision.liveness import ChallengeBook  # noqa: PLC0415

    db.open_funded_person("p0", 5_000)
    _pay(db, employee_policy, "p0", "upkeep-1", 1_000)
    assert db.count("account_deltas") > 0
    before = db.totals()
    ctx = SimpleNamespace(clock=SystemClock(), challenges=ChallengeBook(), uow=db.uow)
    done = run_upkeep(ctx=ctx)  # type: ignore[arg-type]
    assert done.balances > 0
    assert db.count("account_deltas") == 0
    assert db.totals() == before
