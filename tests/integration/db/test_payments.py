"""settle_and_post and reverse_settlement on the real databases, with the shipped policy."""

from __future__ import annotations

import dataclasses

import pytest

from facepay.insurance.model import Accumulators
from facepay.ledger.accounts import AccountKind, account_id
from facepay.services.ledger import person_balances
from facepay.services.payments import (
    CASH_CLEARING,
    Payer,
    get_settlement,
    reverse_settlement,
    settle_and_post,
)
from facepay.shared.errors import Conflict, NotFound, PolicyError

ACCT = account_id(AccountKind.PERSONAL_ACCOUNT, "pat_1")
REVENUE = account_id(AccountKind.HOSPITAL_REVENUE, "h1")
PAYER = Payer(person_id="pat_1", category="employee_active")


def _accumulators(db, person: str = "pat_1", year: int = 2026) -> Accumulators:
    with db.uow() as uow:
        return uow.accumulators.lock(person, year)


def test_the_worked_example_settles_and_posts(db, example_bill, employee_policy) -> None:
    db.open_funded_person("pat_1", 200_000)
    receipt = settle_and_post(
        hospital_id="h1",
        uow=db.uow(),
        bill=example_bill,
        payer=PAYER,
        policy=employee_policy,
        idempotency_key="k1",
    )
    s = receipt.record.settlement
    assert (s.medfee_sumamt, s.hifp_pay, s.acct_pay, s.psn_cash_pay, s.balc) == (
        2_000_000,
        1_445_000,
        200_000,
        355_000,
        0,
    )
    assert [t.code for t in receipt.transfers] == ["settle.hifp", "settle.acct", "settle.cash"]
    assert db.balance("fund_pool:hifp") == -1_445_000
    assert db.balance("hospital_receivable:h1/hifp") == 1_445_000
    assert db.balance(ACCT) == 0
    assert db.balance(REVENUE) == 555_000
    assert db.balance(CASH_CLEARING) == 355_000
    acc = _accumulators(db)
    assert (acc.inpatient_admissions, acc.inpatient_eligible, acc.inpatient_fund_paid) == (
        1,
        1_700_000,
        1_445_000,
    )
    with db.uow() as uow:
        stored = uow.settlements.get(receipt.record.id)
    assert stored == receipt.record


def test_same_key_replays_and_a_different_bill_conflicts(db, example_bill, employee_policy) -> None:
    db.open_funded_person("pat_1", 200_000)
    first = settle_and_post(
        hospital_id="h1",
        uow=db.uow(),
        bill=example_bill,
        payer=PAYER,
        policy=employee_policy,
        idempotency_key="k1",
    )
    before = db.totals()
    again = settle_and_post(
        hospital_id="h1",
        uow=db.uow(),
        bill=example_bill,
        payer=PAYER,
        policy=employee_policy,
        idempotency_key="k1",
    )
    assert again.replayed
    assert again.record == first.record
    assert again.transfers == first.transfers
    other = dataclasses.replace(example_bill, lines=example_bill.lines[:2])
    with pytest.raises(Conflict):
        settle_and_post(
            hospital_id="h1",
            uow=db.uow(),
            bill=other,
            payer=PAYER,
            policy=employee_policy,
            idempotency_key="k1",
        )
    assert db.totals() == before
    assert db.count("settlements") == 1


def test_the_account_pays_only_what_the_ledger_holds(db, employee_policy) -> None:
    db.open_funded_person("pat_1", 700)
    receipt = settle_and_post(
        hospital_id="h1",
        uow=db.uow(),
        bill=db.outpatient_bill(1_000),
        payer=PAYER,
        policy=employee_policy,
        idempotency_key="k",
    )
    assert (receipt.record.settlement.acct_pay, receipt.record.settlement.psn_cash_pay) == (
        700,
        300,
    )
    assert db.balance(ACCT) == 0


def test_a_refused_settlement_stores_nothing(db, example_bill, employee_policy) -> None:
    db.open_funded_person("pat_1", 200_000)
    before = db.totals()
    stranger = Payer(person_id="pat_1", category="farmer")
    with pytest.raises(PolicyError):
        settle_and_post(
            hospital_id="h1",
            uow=db.uow(),
            bill=example_bill,
            payer=stranger,
            policy=employee_policy,
            idempotency_key="k",
        )
    assert db.totals() == before
    assert db.count("settlements") == db.count("accumulators") == 0


def test_reversal_restores_balances_and_accumulators_exactly(
    db, example_bill, employee_policy
) -> None:
    db.open_funded_person("pat_1", 300_000)
    earlier = settle_and_post(
        hospital_id="h1",
        uow=db.uow(),
        bill=db.outpatient_bill(50_000),
        payer=PAYER,
        policy=employee_policy,
        idempotency_key="earlier",
    )
    before, acc_before = db.net(), _accumulators(db)
    receipt = settle_and_post(
        hospital_id="h1",
        uow=db.uow(),
        bill=example_bill,
        payer=PAYER,
        policy=employee_policy,
        idempotency_key="k2",
    )
    undone = reverse_settlement(uow=db.uow(), settlement_id=receipt.record.id, reversal_key="r2")
    assert db.net() == before
    assert _accumulators(db) == acc_before
    assert undone.record.status == "reversed"
    assert [t.reverses_id for t in undone.transfers] == [t.id for t in reversed(receipt.transfers)]
    replay = reverse_settlement(uow=db.uow(), settlement_id=receipt.record.id, reversal_key="r2")
    assert replay.replayed
    assert replay.transfers == undone.transfers
    with pytest.raises(Conflict):
        reverse_settlement(uow=db.uow(), settlement_id=receipt.record.id, reversal_key="r3")
    assert db.net() == before
    assert db.count("transfers") == 1 + len(earlier.transfers) + 2 * len(receipt.transfers)


def test_reading_back_a_settlement_and_balances(db, example_bill, employee_policy) -> None:
    db.open_funded_person("pat_1", 600_000)
    receipt = settle_and_post(
        hospital_id="h1",
        uow=db.uow(),
        bill=example_bill,
        payer=PAYER,
        policy=employee_policy,
        idempotency_key="k",
    )
    assert get_settlement(uow=db.uow(), settlement_id=receipt.record.id) == receipt.record
    with pytest.raises(NotFound):
        get_settlement(uow=db.uow(), settlement_id="stl_nope")
    assert person_balances(uow=db.uow(), person_id="pat_1") == {
        AccountKind.PERSONAL_ACCOUNT: 600_000 - 555_000,
        AccountKind.PATIENT_WALLET: 0,
        AccountKind.ARREARS: 0,
    }
