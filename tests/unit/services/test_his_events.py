"""The hospital-system event feed read off a site's audit chain: paid, refunded, in commit order,
one site's only, a cursor that moves past entries that are not events."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from facepay.services.bills import pay_bill, post_bill
from facepay.services.his_events import events_after, head
from facepay.services.identification import identify_by_credentials
from facepay.services.refunds import refund_bill


def _paid_bill(world: Any, kit: ModuleType, ref: str, hospital: str = "h1") -> str:
    posted = post_bill(
        ctx=world.ctx,
        hospital_id=hospital,
        actor="his",
        id_number=kit.person_number(10),
        external_ref=ref,
        bill=kit.outpatient_bill(12_000),
    )
    card = identify_by_credentials(
        ctx=world.ctx,
        hospital_id=hospital,
        actor="kiosk",
        id_number=kit.person_number(10),
        insurance_card_number="CARD0010",
    )
    pay_bill(
        ctx=world.ctx,
        hospital_id=hospital,
        actor="kiosk",
        bill_id=posted.id,
        identification_id=card.identification_id,
        idempotency_key=f"pay-{ref}",
    )
    return posted.id


def test_payments_and_refunds_of_one_site_in_commit_order(world: Any, kit: ModuleType) -> None:
    start = head(world.ctx, hospital_id="h1")
    first = _paid_bill(world, kit, "HIS-1")
    _paid_bill(world, kit, "HIS-2", hospital="h2")
    refund_bill(
        ctx=world.ctx, hospital_id="h1", actor="cashier", bill_id=first, reversal_key="rf-1"
    )
    events, reached = events_after(world.ctx, hospital_id="h1", after_seq=start)
    assert [(e.kind, e.bill_id) for e in events] == [
        ("bill.paid", first),
        ("bill.refunded", first),
    ]
    assert events[0].amount_fen == 17_000
    assert events[0].settlement_id
    assert events[1].amount_fen == 17_000
    assert all(e.hospital_id == "h1" and e.id == f"h1:{e.seq}" for e in events)
    assert reached == head(world.ctx, hospital_id="h1") >= events[-1].seq
    assert events_after(world.ctx, hospital_id="h1", after_seq=reached) == ([], reached)


def test_a_batch_stops_at_its_limit_and_the_cursor_resumes_there(
    world: Any, kit: ModuleType
) -> None:
    start = head(world.ctx, hospital_id="h1")
    bills = [_paid_bill(world, kit, f"HIS-{n}") for n in range(3)]
    one, reached = events_after(world.ctx, hospital_id="h1", after_seq=start, limit=1)
    assert [e.bill_id for e in one] == bills[:1]
    assert reached >= one[0].seq
    rest, _ = events_after(world.ctx, hospital_id="h1", after_seq=reached)
    assert [e.bill_id for e in rest] == bills[1:]
