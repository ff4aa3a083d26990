"""Books per hospital: each hospital has its own revenue account and, per fund, its own
receivable, so that each hospital's books reconcile with its own settlements. Before, one
`hospital_revenue:hospital` account took every hospital's revenue and receivables were kept per
fund only."""

from __future__ import annotations

from types import ModuleType

import pytest

from facepay.services.bills import pay_bill, post_bill
from facepay.services.context import Services
from facepay.services.identification import identify_by_credentials
from facepay.services.refunds import refund_bill

pytestmark = pytest.mark.slow


def _pay(ctx: Services, kit: ModuleType, hospital: str, person, fen: int, ref: str):
    found = identify_by_credentials(
        ctx=ctx,
        hospital_id=hospital,
        actor="kiosk",
        id_number=person.card.id_number,
        insurance_card_number=person.insurance_card,
    )
    posted = post_bill(
        ctx=ctx,
        hospital_id=hospital,
        actor="his",
        id_number=person.card.id_number,
        external_ref=ref,
        bill=kit.bill(fen),
    )
    return pay_bill(
        ctx=ctx,
        hospital_id=hospital,
        actor="kiosk",
        bill_id=posted.id,
        identification_id=found.identification_id,
        idempotency_key=f"pay-{ref}",
    )


def _books(db, hospital: str) -> dict[str, int]:
    accounts = {"revenue": f"hospital_revenue:{hospital}"}
    accounts |= {
        fund: f"hospital_receivable:{hospital}/{fund}" for fund in ("hifp", "hifmi", "maf")
    }
    return {name: db.balance(account) for name, account in accounts.items()}


def test_each_hospital_keeps_its_own_revenue_and_receivables(
    ctx: Services, kit: ModuleType, db
) -> None:
    at_h1 = _pay(ctx, kit, "h1", kit.OBAMA, 300_000, "h1-a").receipt.record.settlement
    at_h2 = _pay(ctx, kit, "h2", kit.BIDEN, 400_000, "h2-a").receipt.record.settlement
    for hospital, s in (("h1", at_h1), ("h2", at_h2)):
        assert _books(db, hospital) == {
            "revenue": s.acct_pay + s.psn_cash_pay,
            "hifp": s.hifp_pay,
            "hifmi": s.hifmi_pay,
            "maf": s.maf_pay,
        }
        assert s.hifp_pay > 0
    # The hospital's own books, added up, are what its patients' bills came to.
    assert sum(_books(db, "h1").values()) == at_h1.medfee_sumamt


def test_a_refund_leaves_the_other_hospitals_books_alone(
    ctx: Services, kit: ModuleType, db
) -> None:
    paid = _pay(ctx, kit, "h1", kit.OBAMA, 300_000, "h1-b")
    _pay(ctx, kit, "h2", kit.BIDEN, 400_000, "h2-b")
    h2_before = _books(db, "h2")
    refund_bill(ctx=ctx, hospital_id="h1", actor="cashier", bill_id=paid.bill.id, reversal_key="r")
    assert _books(db, "h1") == {"revenue": 0, "hifp": 0, "hifmi": 0, "maf": 0}
    assert _books(db, "h2") == h2_before
