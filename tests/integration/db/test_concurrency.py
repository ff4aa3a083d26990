"""Many payers on one personal account at once: threads, separate processes, a process killed
before commit, a retry after a lock timeout. Money is never overdrawn, lost or doubled."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from facepay.ledger.accounts import AccountKind, account_id
from facepay.ledger.transfers import PostingRequest, TransferSpec
from facepay.services.ledger import post_transfers
from facepay.services.payments import CASH_CLEARING, Payer, settle_and_post
from facepay.services.ports import StorageBusy

PAYER_SCRIPT = Path(__file__).resolve().parent / "payer.py"
ACCT = account_id(AccountKind.PERSONAL_ACCOUNT, "pat_1")
REVENUE = account_id(AccountKind.HOSPITAL_REVENUE, "h1")
PAYER = Payer(person_id="pat_1", category="employee_active")
THREADS = 20


def _pay_concurrently(db, policy, keys: list[str], amount: int):
    """Start all payments at the same moment, one thread each; return their receipts."""
    start = threading.Barrier(len(keys))
    bill = db.outpatient_bill(amount)

    def pay(key: str):
        start.wait()
        return settle_and_post(
            hospital_id="h1",
            uow=db.uow(),
            bill=bill,
            payer=PAYER,
            policy=policy,
            idempotency_key=key,
        )

    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        return list(pool.map(pay, keys))


def _assert_books_balance(db, *, settled: int, amount: int, funded: int) -> None:
    """Every settlement is posted exactly once and the account paid exactly what it held."""
    assert db.count("settlements") == settled
    assert db.balance(ACCT) == max(funded - settled * amount, 0)
    assert db.balance(REVENUE) == settled * amount
    assert db.balance(CASH_CLEARING) == max(settled * amount - funded, 0)
    with db.uow() as uow:
        assert uow.accumulators.lock("pat_1", 2026).burden == 0  # class C is outside the scope


def test_twenty_threads_never_overdraw_or_lose_a_posting(db, employee_policy) -> None:
    db.open_funded_person("pat_1", 10_000)
    receipts = _pay_concurrently(db, employee_policy, [f"k{i}" for i in range(THREADS)], 1_000)
    assert sum(r.record.settlement.acct_pay for r in receipts) == 10_000
    assert len({r.record.id for r in receipts}) == THREADS
    _assert_books_balance(db, settled=THREADS, amount=1_000, funded=10_000)


def test_threads_racing_with_the_same_key_settle_once(db, employee_policy) -> None:
    db.open_funded_person("pat_1", 10_000)
    keys = [f"k{i % 5}" for i in range(THREADS)]
    receipts = _pay_concurrently(db, employee_policy, keys, 1_500)
    by_key = {}
    for key, receipt in zip(keys, receipts, strict=True):
        by_key.setdefault(key, set()).add(receipt.record.id)
    assert all(len(ids) == 1 for ids in by_key.values())
    assert sum(not r.replayed for r in receipts) == 5
    _assert_books_balance(db, settled=5, amount=1_500, funded=10_000)


def _spawn(url: str, prefix: str, count: int, amount: int, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(PAYER_SCRIPT), url, "pat_1", prefix, str(count), str(amount), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_separate_processes_never_overdraw(db, database_url, employee_policy) -> None:
    db.open_funded_person("pat_1", 10_000)
    workers = [_spawn(database_url, f"proc{n}", 4, 1_000) for n in range(4)]
    # Threads in this process pay at the same time as the four processes.
    receipts = _pay_concurrently(db, employee_policy, [f"thread{i}" for i in range(4)], 1_000)
    acct_paid = sum(r.record.settlement.acct_pay for r in receipts)
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        lines = out.split()
        acct_paid += sum(int(lines[i + 2]) for i in range(0, len(lines), 3))
    assert acct_paid == 10_000
    _assert_books_balance(db, settled=20, amount=1_000, funded=10_000)


def test_a_payer_killed_before_commit_leaves_nothing_and_a_retry_settles_once(
    db, database_url, employee_policy
) -> None:
    db.open_funded_person("pat_1", 10_000)
    before = db.totals()
    worker = _spawn(database_url, "crash", 1, 4_000, "--hang-before-commit")
    assert worker.stdout is not None
    assert worker.stdout.readline().strip() == "before-commit"
    worker.kill()  # SIGKILL: no rollback, no cleanup, no goodbye to the database
    worker.communicate(timeout=60)
    assert worker.returncode == -9
    assert db.totals() == before
    assert db.count("settlements") == 0
    assert db.count("posting_records") == 1  # the allocation only
    bill = db.outpatient_bill(4_000)
    retry = settle_and_post(
        hospital_id="h1",
        uow=db.uow(),
        bill=bill,
        payer=PAYER,
        policy=employee_policy,
        idempotency_key="crash-0",
    )
    again = settle_and_post(
        hospital_id="h1",
        uow=db.uow(),
        bill=bill,
        payer=PAYER,
        policy=employee_policy,
        idempotency_key="crash-0",
    )
    assert not retry.replayed
    assert again.replayed
    assert again.record.id == retry.record.id
    _assert_books_balance(db, settled=1, amount=4_000, funded=10_000)


def test_a_retry_after_a_lock_timeout_settles_exactly_once(db, employee_policy) -> None:
    db.open_funded_person("pat_1", 10_000)
    bill = db.outpatient_bill(2_500)
    before = db.totals()
    with db.uow() as blocker:
        blocker.accumulators.lock("pat_1", 2026)  # another payment holds the person
        with pytest.raises(StorageBusy):
            settle_and_post(
                hospital_id="h1",
                uow=db.uow(lock_timeout_ms=200),
                bill=bill,
                payer=PAYER,
                policy=employee_policy,
                idempotency_key="visit-7",
            )
    assert db.totals() == before
    first = settle_and_post(
        hospital_id="h1",
        uow=db.uow(lock_timeout_ms=200),
        bill=bill,
        payer=PAYER,
        policy=employee_policy,
        idempotency_key="visit-7",
    )
    # The answer was lost on the way back to the kiosk, which asks again.
    second = settle_and_post(
        hospital_id="h1",
        uow=db.uow(),
        bill=bill,
        payer=PAYER,
        policy=employee_policy,
        idempotency_key="visit-7",
    )
    assert second.replayed
    assert second.record == first.record
    _assert_books_balance(db, settled=1, amount=2_500, funded=10_000)


def test_a_raw_posting_raced_under_one_key_applies_once(db) -> None:
    """Unbounded accounts take no row lock, so racers can pass the key check together: the
    unique key stops all but one, and their retries replay it."""
    request = PostingRequest(
        "deposit-9", (TransferSpec.transfer(CASH_CLEARING, REVENUE, 700, "deposit"),)
    )
    start = threading.Barrier(8)

    def post_until_answered():
        start.wait()
        for _ in range(5):
            try:
                return post_transfers(uow=db.uow(), request=request)
            except StorageBusy:
                continue
        raise AssertionError("no answer after 5 tries")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: post_until_answered(), range(8)))
    assert len({r.transfers for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert db.balance(REVENUE) == 700
