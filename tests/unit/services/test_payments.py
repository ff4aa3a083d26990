"""settle_and_post's all-or-nothing rule, on the in-memory unit of work."""

from __future__ import annotations

import pytest

from facepay.adapters.interchange import load_policy, parse_bill, shipped_policy_files
from facepay.insurance.model import Accumulators
from facepay.ledger.accounts import Account, AccountKind, account_id, hospital_chart
from facepay.ledger.transfers import PostingRequest, TransferSpec
from facepay.services.ledger import open_person_accounts, post_transfers
from facepay.services.memory import InMemoryStore, InMemoryUnitOfWork
from facepay.services.payments import Payer, settle_and_post
from facepay.shared.errors import InsufficientFunds, InvalidInput

POLICY = next(p for p in map(load_policy, shipped_policy_files()) if "employee" in p.id)
WALLET = account_id(AccountKind.PATIENT_WALLET, "p1")
BILL = parse_bill(
    {
        "visit_type": "outpatient",
        "hospital_tier": 1,
        "service_date": "2026-02-02",
        "lines": [
            {"code": "A1", "name": "x", "item_class": "A", "unit_price": 300_000, "quantity": "1"}
        ],
    }
)


@pytest.fixture
def store() -> InMemoryStore:
    store = InMemoryStore()
    for kind, owner in [
        (AccountKind.FUND_POOL, "hifp"),
        *hospital_chart("h1"),
        (AccountKind.CASH_CLEARING, "cash"),
    ]:
        store.ledger.add_account(Account.open(kind, owner))
    open_person_accounts(uow=InMemoryUnitOfWork(store), person_id="p1")
    return store


def test_a_posting_that_fails_undoes_the_settlement(store: InMemoryStore) -> None:
    post_transfers(
        uow=InMemoryUnitOfWork(store),
        request=PostingRequest(
            "deposit",
            (
                TransferSpec.transfer(
                    account_id(AccountKind.CASH_CLEARING, "cash"), WALLET, 100, "d"
                ),
            ),
        ),
    )
    with pytest.raises(InsufficientFunds):
        settle_and_post(
            hospital_id="h1",
            uow=InMemoryUnitOfWork(store),
            bill=BILL,
            payer=Payer("p1", "employee_active"),
            policy=POLICY,
            idempotency_key="k",
            cash_account=WALLET,
        )
    assert store.settlements.records == {}
    assert store.accumulators.rows.get(("p1", 2026), Accumulators(year=2026)) == Accumulators(
        year=2026
    )
    assert store.ledger.accounts[WALLET].balance == 100


def test_the_cash_part_can_come_from_the_wallet(store: InMemoryStore) -> None:
    post_transfers(
        uow=InMemoryUnitOfWork(store),
        request=PostingRequest(
            "deposit",
            (
                TransferSpec.transfer(
                    account_id(AccountKind.CASH_CLEARING, "cash"), WALLET, 300_000, "d"
                ),
            ),
        ),
    )
    receipt = settle_and_post(
        hospital_id="h1",
        uow=InMemoryUnitOfWork(store),
        bill=BILL,
        payer=Payer("p1", "employee_active"),
        policy=POLICY,
        idempotency_key="k",
        cash_account=WALLET,
    )
    assert store.ledger.accounts[WALLET].balance == 300_000 - receipt.record.settlement.psn_cash_pay


@pytest.mark.parametrize("key", ["", "x" * 151, "tab\there"])
def test_bad_idempotency_keys_are_refused(store: InMemoryStore, key: str) -> None:
    with pytest.raises(InvalidInput):
        settle_and_post(
            hospital_id="h1",
            uow=InMemoryUnitOfWork(store),
            bill=BILL,
            payer=Payer("p1", "employee_active"),
            policy=POLICY,
            idempotency_key=key,
        )
