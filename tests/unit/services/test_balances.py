"""Arrears repaid and refunds due paid out at the window, on the in-memory store: the amounts
offline payment left (built as tests/unit/services/test_offline.py builds them), at most what is
owed, once per key, only at a site that knows the patient, and the ledger balanced after each."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import pytest
from tests.offline_till import Till
from tests.unit.services.conftest import World
from tests.unit.services.test_offline import (
    balance,
    bill_for,
    cash_of,
    check_ledger,
    refresh,
    site,
    sync,
    till_of,
)

from facepay.adapters.interchange import parse_bill
from facepay.hospital.emergency import EmergencyRecord
from facepay.ledger.accounts import AccountKind
from facepay.services import balances, offline_limits
from facepay.services.memory import InMemoryUnitOfWork
from facepay.services.payments import Payer, settle_and_post
from facepay.shared.errors import Conflict, InvalidInput, NotFound
from facepay.terminal.protocol import OfflineLimits

__all__ = ["site"]  # the fixture, imported


@dataclass(frozen=True)
class Owing:
    """Alice after two offline payments: one left arrears, one a refund due."""

    person: str
    till: Till
    arrears: int
    refund_due: int


@pytest.fixture
def owing(site: World) -> Owing:
    big, small = bill_for(site, 300_000), bill_for(site, 20_000)
    till = till_of(site)
    offline_limits.set_limits(
        ctx=site.ctx, hospital_id="h1", actor="admin",
        limits=OfflineLimits(per_payment_fen=400_000, cumulative_fen=1_000_000),
    )  # fmt: skip
    refresh(site, till)
    alice = site.people["Alice"]
    cash = cash_of(site, big)
    # Meanwhile a self-paid bill emptied the personal account: the cash part is larger now.
    elsewhere = parse_bill(
        {
            "visit_type": "outpatient", "hospital_tier": 2, "service_date": "2026-05-04",
            "lines": [{"code": "C9", "item_class": "C", "unit_price": 100_000, "quantity": "1"}],
        }
    )  # fmt: skip
    category = site.store.people.rows[alice].category
    policy = site.ctx.policies.pick(service_date=elsewhere.service_date, category=category)
    settle_and_post(
        uow=InMemoryUnitOfWork(site.store), hospital_id="h1", bill=elsewhere,
        payer=Payer(alice, category), policy=policy, idempotency_key="elsewhere",
    )  # fmt: skip
    (owed,) = sync(
        site, till, till.pay(person_id=alice, bill_id=big.id, total_fen=big.total, cash_fen=cash)
    )
    over = cash_of(site, small) + 1_000
    (due,) = sync(
        site,
        till,
        till.pay(person_id=alice, bill_id=small.id, total_fen=small.total, cash_fen=over),
    )
    assert (owed.difference_kind, due.difference_kind) == ("arrears", "refund_due")
    assert owed.difference_fen > 2
    return Owing(alice, till, owed.difference_fen, due.difference_fen)


def repay(world: World, person: str, fen: int, key: str, **kw: object) -> balances.Movement:
    args: dict[str, object] = {
        "ctx": world.ctx, "hospital_id": "h1", "actor": "staff:cashier", "person_id": person,
        "amount_fen": fen, "method": "cash", "idempotency_key": key, **kw,
    }  # fmt: skip
    return balances.repay_arrears(**args)  # type: ignore[arg-type]


def pay_out(world: World, person: str, fen: int, key: str, **kw: object) -> balances.Movement:
    args: dict[str, object] = {
        "ctx": world.ctx, "hospital_id": "h1", "actor": "staff:cashier", "person_id": person,
        "amount_fen": fen, "method": "cash", "idempotency_key": key, **kw,
    }  # fmt: skip
    return balances.pay_out_refund_due(**args)  # type: ignore[arg-type]


def test_balances_list_the_vouchers_that_made_them(site: World, owing: Owing) -> None:
    read = balances.patient_balances(ctx=site.ctx, hospital_id="h1", person_id=owing.person)
    assert (read.arrears_fen, read.repayable_fen, read.refund_due_fen) == (
        owing.arrears, owing.arrears, owing.refund_due,
    )  # fmt: skip
    assert [v.difference_kind for v in read.vouchers] == ["refund_due", "arrears"]
    assert {v.terminal_id for v in read.vouchers} == {owing.till.terminal_id}


def test_repay_part_then_the_rest_and_the_next_package_allows_offline(
    site: World, owing: Owing
) -> None:
    bill_for(site, 10_000)  # a new open bill: the site needs Alice offline again
    refresh(site, owing.till)
    assert owing.person in owing.till.limits["deny"]
    first = repay(site, owing.person, owing.arrears - 1, "rep-1")
    assert (first.remaining_fen, first.replayed) == (1, False)
    assert balance(site, AccountKind.ARREARS, owing.person) == 1
    refresh(site, owing.till)
    assert owing.person in owing.till.limits["deny"]  # 1 fen still owed
    rest = repay(site, owing.person, 1, "rep-2", method="bank")
    assert (rest.remaining_fen, rest.method) == (0, "bank")
    assert balance(site, AccountKind.ARREARS, owing.person) == 0
    assert balance(site, AccountKind.CASH_CLEARING, "bank") == 1
    check_ledger(site, owing.till)
    refresh(site, owing.till)
    assert owing.person not in owing.till.limits["deny"]
    assert owing.person in {p["person_id"] for p in owing.till.library["persons"]}
    actions = [e.action for e in site.store.audit.__dict__["entries"]]
    assert actions.count(balances.REPAY_ACTION) == 2


def test_overpaying_is_refused_and_changes_nothing(site: World, owing: Owing) -> None:
    with pytest.raises(Conflict) as refused:
        repay(site, owing.person, owing.arrears + 1, "rep-over")
    assert refused.value.code == "arrears_exceeded"
    assert balance(site, AccountKind.ARREARS, owing.person) == owing.arrears
    with pytest.raises(Conflict) as too_much:
        pay_out(site, owing.person, owing.refund_due + 1, "pay-over")
    assert too_much.value.code == "refund_due_exceeded"
    for fen, method in ((0, "cash"), (-5, "cash"), (True, "cash"), (10, "card")):
        with pytest.raises(InvalidInput):
            repay(site, owing.person, fen, f"rep-bad-{method}", method=method)  # type: ignore[arg-type]


def test_replay_returns_the_same_answer_and_another_body_is_refused(
    site: World, owing: Owing
) -> None:
    first = repay(site, owing.person, owing.arrears, "rep-all")
    again = repay(site, owing.person, owing.arrears, "rep-all")
    assert again.replayed
    assert replace(again, replayed=False) == first
    assert balance(site, AccountKind.ARREARS, owing.person) == 0
    for other in ({"method": "bank"}, {}):
        fen = owing.arrears if other else owing.arrears - 1
        with pytest.raises(Conflict) as clash:
            repay(site, owing.person, fen, "rep-all", **other)
        assert clash.value.code == "idempotency_conflict"
    # The same key for a payout is another posting key: it does not clash.
    paid = pay_out(site, owing.person, owing.refund_due, "rep-all")
    assert (paid.direction, paid.remaining_fen) == ("payout", 0)
    assert pay_out(site, owing.person, owing.refund_due, "rep-all").replayed


def test_refund_payout_in_two_parts(site: World, owing: Owing) -> None:
    part = pay_out(site, owing.person, 400, "pay-1")
    assert part.remaining_fen == owing.refund_due - 400
    rest = pay_out(site, owing.person, owing.refund_due - 400, "pay-2", method="bank")
    assert rest.remaining_fen == 0
    assert balance(site, AccountKind.REFUND_DUE, owing.person) == 0
    with pytest.raises(Conflict):
        pay_out(site, owing.person, 1, "pay-3")
    check_ledger(site, owing.till)


def test_two_repayments_at_once_never_take_more_than_owed(site: World, owing: Owing) -> None:
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def take(key: str) -> None:
        barrier.wait()
        try:
            outcomes.append(repay(site, owing.person, owing.arrears, key))
        except Conflict as refused:
            outcomes.append(refused.code)

    threads = [threading.Thread(target=take, args=(f"race-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(type, outcomes), key=str) == sorted([balances.Movement, str], key=str)
    assert "arrears_exceeded" in outcomes
    assert balance(site, AccountKind.ARREARS, owing.person) == 0
    check_ledger(site, owing.till)


def test_another_site_and_an_unknown_person_get_not_found(site: World, owing: Owing) -> None:
    for hospital, person in (("h2", owing.person), ("h1", "psn_nobody")):
        with pytest.raises(NotFound):
            repay(site, person, 1, "rep-foreign", hospital_id=hospital)
        with pytest.raises(NotFound):
            balances.patient_balances(ctx=site.ctx, hospital_id=hospital, person_id=person)
    assert balance(site, AccountKind.ARREARS, owing.person) == owing.arrears


def test_a_merged_emergency_records_arrears_are_paid_with_its_bill(
    site: World, owing: Owing
) -> None:
    now = site.ctx.clock.now()
    record = EmergencyRecord(
        id="emr_1", hospital_id="h1", number="E-1", visit_type="outpatient", sex="U",
        estimated_age=None, notes="", person_id=owing.person, status="merged", opened_at=now,
        opened_by="staff:nurse", charged_fen=owing.arrears - 2, bill_id="bill_emr",
    )  # fmt: skip
    site.store.emergency.rows[record.id] = record
    read = balances.patient_balances(ctx=site.ctx, hospital_id="h1", person_id=owing.person)
    assert (read.arrears_fen, read.repayable_fen) == (owing.arrears, 2)
    with pytest.raises(Conflict) as refused:
        repay(site, owing.person, 3, "rep-emr")
    assert refused.value.code == "arrears_exceeded"
    assert repay(site, owing.person, 2, "rep-emr").remaining_fen == 0
