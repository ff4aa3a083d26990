"""The ledger's rules hold on the real databases, and the schema refuses what slips past them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from facepay.ledger.accounts import AccountFlags, AccountKind, Side, account_id
from facepay.ledger.transfers import PostingRequest, TransferSpec
from facepay.services.ledger import expire_due_holds, open_accounts, post_transfers
from facepay.services.payments import CASH_CLEARING
from facepay.shared.clock import FixedClock
from facepay.shared.errors import Conflict, InsufficientFunds

ACCT = account_id(AccountKind.PERSONAL_ACCOUNT, "pat_1")
WALLET = account_id(AccountKind.PATIENT_WALLET, "pat_1")
REVENUE = account_id(AccountKind.HOSPITAL_REVENUE, "hospital")
NOW = datetime(2026, 5, 4, 8, 30, tzinfo=UTC)


def _pay(db, key: str, amount: int, source: str = ACCT):
    request = PostingRequest(key, (TransferSpec.transfer(source, REVENUE, amount, "pay"),))
    return post_transfers(uow=db.uow(), request=request, clock=FixedClock(NOW))


def test_transfers_post_once_per_key(db) -> None:
    db.open_funded_person("pat_1", 5_000)
    first = _pay(db, "pay-1", 1_200)
    again = _pay(db, "pay-1", 1_200)
    assert again.replayed
    assert again.transfers == first.transfers
    assert first.transfers[0].created_at == NOW
    with pytest.raises(Conflict):
        _pay(db, "pay-1", 1_300)
    assert db.balance(ACCT) == 3_800
    assert db.balance(REVENUE) == 1_200


def test_an_overdraft_stores_nothing(db) -> None:
    db.open_funded_person("pat_1", 5_000)
    before = db.totals()
    request = PostingRequest(
        "settle",
        (
            TransferSpec.transfer(CASH_CLEARING, REVENUE, 100, "cash"),
            TransferSpec.transfer(ACCT, REVENUE, 5_001, "acct"),
        ),
    )
    with pytest.raises(InsufficientFunds):
        post_transfers(uow=db.uow(), request=request)
    assert db.totals() == before
    assert db.count("transfers") == 1  # the allocation


def test_a_deposit_hold_posts_smaller_then_expired_holds_void(db) -> None:
    db.open_funded_person("pat_1", 0)
    post_transfers(
        uow=db.uow(),
        request=PostingRequest(
            "deposit", (TransferSpec.transfer(CASH_CLEARING, WALLET, 50_000, "deposit"),)
        ),
    )
    clock = FixedClock(NOW)
    holds = post_transfers(
        uow=db.uow(),
        request=PostingRequest(
            "holds",
            (
                TransferSpec.hold(WALLET, REVENUE, 30_000, "admission", timeout_seconds=None),
                TransferSpec.hold(WALLET, REVENUE, 20_000, "preauth", timeout_seconds=600),
            ),
        ),
        clock=clock,
    ).transfers
    with pytest.raises(InsufficientFunds):
        _pay(db, "more", 1, source=WALLET)
    post_transfers(
        uow=db.uow(),
        request=PostingRequest("discharge", (TransferSpec.post(holds[0].id, "discharge", 26_000),)),
        clock=clock,
    )
    clock.set(NOW + timedelta(seconds=599))
    assert expire_due_holds(uow=db.uow(), clock=clock) == 0
    clock.set(NOW + timedelta(seconds=600))
    assert expire_due_holds(uow=db.uow(), clock=clock) == 1
    assert expire_due_holds(uow=db.uow(), clock=clock) == 0
    assert db.totals()[WALLET] == (26_000, 50_000, 0, 0)
    with pytest.raises(Conflict):
        post_transfers(
            uow=db.uow(),
            request=PostingRequest("late", (TransferSpec.post(holds[1].id, "late"),)),
            clock=clock,
        )


def test_the_schema_refuses_an_overdraft_written_around_the_ledger(db) -> None:
    db.open_funded_person("pat_1", 100)
    with db.engine.begin() as conn, pytest.raises(IntegrityError):
        conn.execute(text("UPDATE accounts SET debits_posted = 101 WHERE id = :id"), {"id": ACCT})


def test_the_schema_refuses_a_second_resolution_of_a_hold(db) -> None:
    db.open_funded_person("pat_1", 1_000)
    (hold,) = post_transfers(
        uow=db.uow(),
        request=PostingRequest(
            "h", (TransferSpec.hold(ACCT, REVENUE, 500, "x", timeout_seconds=None),)
        ),
    ).transfers
    post_transfers(uow=db.uow(), request=PostingRequest("v", (TransferSpec.void(hold.id, "v"),)))
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO posting_records (key, fingerprint, created_at)"
                " VALUES ('v2', 'f', CURRENT_TIMESTAMP)"
            )
        )
    with db.engine.begin() as conn, pytest.raises(IntegrityError):
        conn.execute(
            text(
                "INSERT INTO transfers (id, request_key, batch_index, kind, code,"
                " debit_account_id, credit_account_id, amount, created_at, pending_id)"
                " VALUES ('tr_x', 'v2', 0, 'void_pending', 'v', :a, :b, 500,"
                " CURRENT_TIMESTAMP, :p)"
            ),
            {"a": ACCT, "b": REVENUE, "p": hold.id},
        )


def test_opening_accounts_is_idempotent_and_kinds_get_their_rules(db) -> None:
    wanted = [(AccountKind.TERMINAL_SUSPENSE, "kiosk-3"), (AccountKind.ARREARS, "pat_9")]
    ids = open_accounts(uow=db.uow(), accounts=wanted)
    assert open_accounts(uow=db.uow(), accounts=wanted) == ids
    with db.uow() as uow:
        found = uow.ledger.lock_accounts(ids)
    suspense, arrears = found["terminal_suspense:kiosk-3"], found["arrears:pat_9"]
    assert (suspense.side, suspense.flags) == (Side.DEBIT, AccountFlags.NONE)
    assert arrears.flags == AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    # An offline kiosk's provisional payment, later found short: the patient owes the rest.
    _pay(db, "offline-1", 3_000, source="terminal_suspense:kiosk-3")
    _pay(db, "short-1", 500, source="arrears:pat_9")
    with pytest.raises(InsufficientFunds):
        post_transfers(
            uow=db.uow(),
            request=PostingRequest(
                "repay", (TransferSpec.transfer(CASH_CLEARING, "arrears:pat_9", 501, "repay"),)
            ),
        )
    assert db.balance("arrears:pat_9") == 500
