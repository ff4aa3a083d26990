"""Payments and refunds through the national platform (settlement_platform=nhsa) on the
in-memory services: the platform's split is what the ledger books, a booking that fails is
cancelled on the platform, a retried payment settles once, refunds cancel there first."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import httpx
import pytest

from facepay.adapters.nhsa.client import NhsaClient
from facepay.adapters.nhsa.platform import NhsaPlatform
from facepay.adapters.nhsa.simulated import SimulatedPlatform
from facepay.adapters.nhsa.store import InMemoryMessageLog, Institution
from facepay.adapters.nhsa.wire import decode, encode
from facepay.insurance.model import Accumulators, Coverage
from facepay.insurance.settlement import settle
from facepay.ledger.accounts import AccountKind, account_id
from facepay.services.bills import pay_bill, post_bill
from facepay.services.identification import identify_by_credentials
from facepay.services.refunds import refund_bill, refund_in_transaction
from facepay.shared.errors import Conflict, InsufficientFunds


@dataclass
class Nhsa:
    """The world with its platform on the simulator."""

    world: Any
    kit: ModuleType
    sim: SimulatedPlatform
    log: InMemoryMessageLog

    def standing(self) -> list[Any]:
        return [s for s in self.sim.settlements.values() if not s.cancelled]

    def post(self, ref: str, seed: int = 10) -> str:
        return post_bill(
            ctx=self.world.ctx,
            hospital_id="h1",
            actor="his",
            id_number=self.kit.person_number(seed),
            external_ref=ref,
            bill=self.kit.outpatient_bill(12_000),
        ).id

    def pay(self, bill_id: str, key: str, seed: int = 10) -> Any:
        card = identify_by_credentials(
            ctx=self.world.ctx,
            hospital_id="h1",
            actor="kiosk",
            id_number=self.kit.person_number(seed),
            insurance_card_number=f"CARD{seed:04d}",
        ).identification_id
        return pay_bill(
            ctx=self.world.ctx,
            hospital_id="h1",
            actor="terminal:trm_0123456789abcdef0123456789abcdef",
            bill_id=bill_id,
            identification_id=card,
            idempotency_key=key,
        )


@pytest.fixture
def nhsa(world: Any, kit: ModuleType) -> Nhsa:
    sim = SimulatedPlatform(policies=world.ctx.policies, clock=world.clock, area="310105")
    for seed, name in ((10, "Alice"), (30, "Carol")):
        sim.enrol(
            certno=kit.person_number(seed), name=name, category="employee_active", balance=100_000
        )
    kit.register(world, 30, "Carol", account=0)  # facepay's account is empty: booking fails

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=encode(sim.handle(decode(request.content))))

    log = InMemoryMessageLog()
    log.save_institution(Institution("h1", "H31010500012", "h1", "310105"), at=world.clock.now())
    counter = itertools.count(1)
    client = NhsaClient(
        http=httpx.Client(transport=httpx.MockTransport(answer), base_url="http://nhsa.test"),
        log=log,
        clock=world.clock,
        sequence=lambda: next(counter),
    )
    world.ctx = replace(world.ctx, platform=NhsaPlatform(client))
    return Nhsa(world, kit, sim, log)


def _personal(world: Any, person: str) -> int:
    with world.ctx.uow() as uow:
        account = uow.ledger.lock_accounts([account_id(AccountKind.PERSONAL_ACCOUNT, person)])
    return next(iter(account.values())).balance


def test_the_platforms_split_is_booked_and_equals_the_local_engines(nhsa: Nhsa) -> None:
    payment = nhsa.pay(nhsa.post("HIS-1"), "pay-1")
    booked = payment.receipt.record.settlement
    bill = nhsa.kit.outpatient_bill(12_000)
    policy = nhsa.world.ctx.policies.pick(
        service_date=bill.service_date, category="employee_active"
    )
    local = settle(
        bill=bill,
        coverage=Coverage("employee_active", 100_000),
        accumulators=Accumulators(year=2026),
        policy=policy,
    )
    for name in ("medfee_sumamt", "fund_pay_sumamt", "hifp_pay", "acct_pay", "psn_cash_pay"):
        assert getattr(booked, name) == getattr(local, name), name
    assert booked.deltas == local.deltas
    assert nhsa.sim.received[-4:] == ["2201", "2204", "2206", "2207"]
    assert _personal(nhsa.world, nhsa.world.people["Alice"]) == 100_000 - booked.acct_pay
    assert nhsa.standing()[0].settlement.acct_pay == booked.acct_pay


def test_a_retried_payment_settles_once(nhsa: Nhsa) -> None:
    bill_id = nhsa.post("HIS-2")
    first = nhsa.pay(bill_id, "pay-2")
    sent = len(nhsa.sim.received)
    again = nhsa.pay(bill_id, "pay-2")
    assert again.receipt.record.id == first.receipt.record.id
    assert len(nhsa.sim.received) == sent  # a paid bill replays without the platform
    assert len(nhsa.standing()) == 1


def test_a_booking_that_fails_is_cancelled_on_the_platform(nhsa: Nhsa) -> None:
    bill_id = nhsa.post("HIS-3", seed=30)
    with pytest.raises(InsufficientFunds):
        nhsa.pay(bill_id, "pay-3", seed=30)
    assert nhsa.standing() == []
    assert nhsa.sim.received[-1] == "2208"
    carol = nhsa.sim.people[nhsa.sim._by_cert[nhsa.kit.person_number(30)]]
    assert carol.balance == 100_000


def test_a_refund_cancels_on_the_platform_first(nhsa: Nhsa) -> None:
    bill_id = nhsa.post("HIS-4")
    nhsa.pay(bill_id, "pay-4")
    refund = refund_bill(
        ctx=nhsa.world.ctx,
        hospital_id="h1",
        actor="staff:stf_1",
        bill_id=bill_id,
        reversal_key="refund-4",
    )
    assert refund.bill.status == "refunded"
    assert nhsa.standing() == []
    assert _personal(nhsa.world, nhsa.world.people["Alice"]) == 100_000
    again = refund_bill(
        ctx=nhsa.world.ctx,
        hospital_id="h1",
        actor="staff:stf_1",
        bill_id=bill_id,
        reversal_key="refund-4",
    )
    assert again.reversal.replayed
    assert nhsa.sim.received.count("2208") == 1


def test_a_refund_by_line_settles_the_rest_on_the_platform(nhsa: Nhsa) -> None:
    bill_id = nhsa.post("HIS-5")
    nhsa.pay(bill_id, "pay-5")
    refund = refund_bill(
        ctx=nhsa.world.ctx,
        hospital_id="h1",
        actor="staff:stf_1",
        bill_id=bill_id,
        reversal_key="refund-5",
        line_codes=["C1"],
    )
    assert refund.resettlement is not None
    rest = nhsa.standing()
    assert len(rest) == 1
    assert rest[0].settlement.medfee_sumamt == refund.resettlement.record.settlement.medfee_sumamt
    assert refund.refunded_fen == 5_000


def test_other_refund_paths_are_sent_to_the_cashier(nhsa: Nhsa) -> None:
    bill_id = nhsa.post("HIS-6")
    nhsa.pay(bill_id, "pay-6")
    with nhsa.world.ctx.uow() as uow, pytest.raises(Conflict) as refused:
        refund_in_transaction(
            nhsa.world.ctx,
            uow,
            hospital_id="h1",
            actor="pharmacist",
            bill_id=bill_id,
            reversal_key="return-6",
        )
    assert refused.value.code == "refund_at_the_cashier"
