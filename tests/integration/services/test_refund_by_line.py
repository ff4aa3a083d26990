"""Refund by line on each database: one transaction reverses the payment and re-settles the rest;
a full refund afterwards puts every balance back where it was before the payment."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from facepay.services.bills import pay_bill, post_bill
from facepay.services.context import Services
from facepay.services.identification import identify_by_credentials
from facepay.services.ledger import person_balances
from facepay.services.refunds import refund_bill
from facepay.shared.errors import Conflict

pytestmark = pytest.mark.slow


def _identified_with_a_bill(ctx: Services, kit: ModuleType, ref: str, fen: int) -> Any:
    """Biden identified by ID number + card at h1, and a bill of `fen` (+ 50 yuan) posted."""
    found = identify_by_credentials(
        ctx=ctx,
        hospital_id="h1",
        actor="kiosk",
        id_number=kit.BIDEN.card.id_number,
        insurance_card_number=kit.BIDEN.insurance_card,
    )
    posted = post_bill(
        ctx=ctx,
        hospital_id="h1",
        actor="his",
        id_number=kit.BIDEN.card.id_number,
        external_ref=ref,
        bill=kit.bill(fen),
    )
    return found, posted


def test_refund_a_line_then_the_rest(ctx: Services, kit: ModuleType, db) -> None:
    found, posted = _identified_with_a_bill(ctx, kit, "rx-9", 300_000)
    person = found.person_id
    assert person is not None
    before_pay = person_balances(uow=ctx.uow(), person_id=person)
    totals_before = db.net()
    paid = pay_bill(
        ctx=ctx,
        hospital_id="h1",
        actor="kiosk",
        bill_id=posted.id,
        identification_id=found.identification_id,
        idempotency_key="p-9",
    )
    assert paid.receipt.record.settlement.medfee_sumamt == 305_000

    partial = refund_bill(
        ctx=ctx,
        hospital_id="h1",
        actor="cashier",
        bill_id=posted.id,
        reversal_key="r-9",
        line_codes=["C1"],
    )
    assert partial.resettlement is not None
    assert partial.resettlement.record.settlement.medfee_sumamt == 300_000
    assert partial.reversal.record.status == "reversed"
    with ctx.uow() as uow:
        stored = uow.bills.get(posted.id, "h1")
        assert stored is not None
        assert [line.code for line in stored.bill.lines] == ["A1"]
        assert stored.settlement_id == partial.resettlement.record.id

    full = refund_bill(
        ctx=ctx, hospital_id="h1", actor="cashier", bill_id=posted.id, reversal_key="r-10"
    )
    assert full.bill.status == "refunded"
    assert person_balances(uow=ctx.uow(), person_id=person) == before_pay
    assert db.net() == totals_before
    with ctx.uow() as uow:
        assert uow.accumulators.lock(person, 2026).outpatient_eligible == 0


def _paid_bill(ctx: Services, kit: ModuleType, ref: str) -> str:
    found, posted = _identified_with_a_bill(ctx, kit, ref, 100_000)
    pay_bill(
        ctx=ctx,
        hospital_id="h1",
        actor="kiosk",
        bill_id=posted.id,
        identification_id=found.identification_id,
        idempotency_key=f"pay-{ref}",
    )
    return posted.id


def test_a_refund_key_used_on_another_bill_of_the_same_patient_is_a_conflict(
    ctx: Services, kit: ModuleType
) -> None:
    """It used to replay the first bill's reversal for the second bill: 'refunded', nothing
    refunded, the second bill still paid."""
    first, second = _paid_bill(ctx, kit, "rx-a"), _paid_bill(ctx, kit, "rx-b")
    refund_bill(ctx=ctx, hospital_id="h1", actor="cashier", bill_id=first, reversal_key="r-a")
    with pytest.raises(Conflict) as clash:
        refund_bill(ctx=ctx, hospital_id="h1", actor="cashier", bill_id=second, reversal_key="r-a")
    assert clash.value.code == "idempotency_conflict"
    with ctx.uow() as uow:
        stored = uow.bills.get(second, "h1")
    assert stored is not None
    assert stored.status == "paid"
    again = refund_bill(
        ctx=ctx, hospital_id="h1", actor="cashier", bill_id=first, reversal_key="r-a"
    )
    assert again.reversal.replayed


def test_a_replayed_refund_by_line_reports_what_it_refunded(ctx: Services, kit: ModuleType) -> None:
    """The replay used to report 0 fen: the refunded lines are no longer on the bill."""
    bill_id = _paid_bill(ctx, kit, "rx-c")
    done = refund_bill(
        ctx=ctx, hospital_id="h1", actor="cashier", bill_id=bill_id, reversal_key="r-c",
        line_codes=["C1"],
    )  # fmt: skip
    replay = refund_bill(
        ctx=ctx, hospital_id="h1", actor="cashier", bill_id=bill_id, reversal_key="r-c",
        line_codes=["C1"],
    )  # fmt: skip
    assert replay.reversal.replayed
    assert done.refunded_fen == replay.refunded_fen == 5_000


def test_a_refund_key_used_again_for_other_lines_is_a_conflict(
    ctx: Services, kit: ModuleType
) -> None:
    """It used to answer 'replayed' with the first refund, so the cashier believed the other
    line was refunded."""
    bill_id = _paid_bill(ctx, kit, "rx-d")
    refund_bill(
        ctx=ctx, hospital_id="h1", actor="cashier", bill_id=bill_id, reversal_key="r-d",
        line_codes=["C1"],
    )  # fmt: skip
    with pytest.raises(Conflict) as clash:
        refund_bill(
            ctx=ctx, hospital_id="h1", actor="cashier", bill_id=bill_id, reversal_key="r-d",
            line_codes=["A1"],
        )  # fmt: skip
    assert clash.value.code == "idempotency_conflict"
    with pytest.raises(Conflict):
        refund_bill(ctx=ctx, hospital_id="h1", actor="cashier", bill_id=bill_id, reversal_key="r-d")
