"""settle_and_post / reverse_settlement under random sequences, on the in-memory unit of work:
the books balance, accounts stay bounded, accumulators equal the deltas of what stands, and every
key settles once."""

from __future__ import annotations

import contextlib
from dataclasses import fields
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from facepay.adapters.interchange import load_policy, shipped_policy_files
from facepay.insurance.model import Accumulators, Bill, BillLine
from facepay.ledger.accounts import Account, AccountFlags, AccountKind, account_id, hospital_chart
from facepay.services.ledger import credit_personal_account, open_person_accounts
from facepay.services.memory import InMemoryStore, InMemoryUnitOfWork
from facepay.services.payments import Payer, Receipt, reverse_settlement, settle_and_post
from facepay.shared.errors import Conflict

POLICIES = {p.id: p for p in map(load_policy, shipped_policy_files())}
PAYERS = [
    (Payer("emp", "employee_active"), "example-employee-2026"),
    (Payer("ret", "employee_retired"), "example-employee-2026"),
    (Payer("res", "resident", medical_assistance=True), "example-resident-2026"),
]
KEYS = st.sampled_from([f"k{i}" for i in range(10)])

lines = st.builds(
    BillLine,
    code=st.just("X"),
    name=st.just("item"),
    item_class=st.sampled_from(["A", "B", "C"]),
    unit_price=st.integers(min_value=1, max_value=3_000_000),
    quantity=st.sampled_from([Decimal(1), Decimal(2), Decimal("0.5")]),
    price_ceiling=st.none() | st.integers(min_value=1, max_value=3_000_000),
)
bills = st.builds(
    Bill,
    visit_type=st.sampled_from(["outpatient", "inpatient"]),
    hospital_tier=st.integers(min_value=1, max_value=3),
    service_date=st.just(date(2026, 6, 1)),
    lines=st.lists(lines, min_size=1, max_size=4).map(tuple),
)


class PaymentsMachine(RuleBasedStateMachine):
    """Pays, replays, reuses keys and refunds at random."""

    receipts = Bundle("receipts")

    def __init__(self) -> None:
        super().__init__()
        self.store = InMemoryStore()
        for kind, owner in (
            [(AccountKind.FUND_POOL, f) for f in ("hifp", "hifmi", "maf", "acct")]
            + hospital_chart("h1")
            + [(AccountKind.CASH_CLEARING, "cash")]
        ):
            self.store.ledger.add_account(Account.open(kind, owner))
        for payer, _ in PAYERS:
            open_person_accounts(uow=self.uow(), person_id=payer.person_id)
        self.keys: dict[str, str] = {}

    def uow(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.store)

    @rule(who=st.sampled_from(PAYERS), amount=st.integers(min_value=1, max_value=500_000))
    def top_up(self, who: tuple[Payer, str], amount: int) -> None:
        key = f"top-up-{len(self.store.ledger.records)}"
        credit_personal_account(
            uow=self.uow(), person_id=who[0].person_id, amount=amount, idempotency_key=key
        )

    @rule(target=receipts, who=st.sampled_from(PAYERS), bill=bills, key=KEYS)
    def pay(self, who: tuple[Payer, str], bill: Bill, key: str):
        payer, policy_id = who
        try:
            receipt = settle_and_post(
                hospital_id="h1",
                uow=self.uow(),
                bill=bill,
                payer=payer,
                policy=POLICIES[policy_id],
                idempotency_key=key,
            )
        except Conflict:
            assert key in self.keys
            return None
        assert receipt.replayed == (key in self.keys)
        if receipt.replayed:
            assert self.keys[key] == receipt.record.id
        self.keys[key] = receipt.record.id
        return receipt

    @rule(receipt=receipts, key=KEYS)
    def refund(self, receipt: Receipt | None, key: str) -> None:
        if receipt is None:
            return
        with contextlib.suppress(Conflict):  # already refunded under another key
            reverse_settlement(
                uow=self.uow(), settlement_id=receipt.record.id, reversal_key=f"r{key}"
            )

    @invariant()
    def books_balance(self) -> None:
        accounts = self.store.ledger.accounts.values()
        assert sum(a.debits_posted for a in accounts) == sum(a.credits_posted for a in accounts)
        for a in accounts:
            if AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS in a.flags:
                assert a.debits_posted + a.debits_pending <= a.credits_posted

    @invariant()
    def standing_settlements_explain_every_balance(self) -> None:
        standing = [r for r in self.store.settlements.records.values() if r.status == "settled"]
        hospital = sum(
            self.store.ledger.accounts[account_id(kind, owner)].balance
            for kind, owner in hospital_chart("h1")
        )
        assert hospital == sum(r.settlement.medfee_sumamt for r in standing)
        for payer, _ in PAYERS:
            mine = [r.settlement.deltas for r in standing if r.person_id == payer.person_id]
            expected = {f.name: sum(getattr(d, f.name) for d in mine) for f in fields(Accumulators)}
            expected["year"] = 2026
            got = self.store.accumulators.rows.get((payer.person_id, 2026), Accumulators(year=2026))
            assert got == Accumulators(**expected)

    @invariant()
    def each_key_settles_once(self) -> None:
        keys = [r.idempotency_key for r in self.store.settlements.records.values()]
        assert len(keys) == len(set(keys)) == len(self.keys)


PaymentsMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=20,
    deadline=None,
    # Draws are cheap; only a loaded CI machine makes them look slow.
    suppress_health_check=[HealthCheck.too_slow],
)
TestPaymentsMachine = PaymentsMachine.TestCase
