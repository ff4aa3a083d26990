"""The pharmacy window: its queue and events, pick-up by the patient's face (or a proxy's), and
the return of medicines not handed over, refunded by line in the same transaction.

A collection consumes an identification of this site as proof that the order's patient, or a
proxy with a live `collect` grant, is at the window (facepay.services.presence.attend): a
different face cannot collect. What was handed over is the pharmacist's word, line by line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from facepay.hospital.bills import PostedBill
from facepay.hospital.orders import DispensingOrder
from facepay.services.bills import hospital_bill
from facepay.services.context import Services
from facepay.services.ports import UnitOfWork
from facepay.services.presence import Presence, attend, record_refusal
from facepay.services.refunds import Refund, refund_in_transaction
from facepay.services.repositories import WindowEvent
from facepay.services.support import audit
from facepay.shared.errors import Conflict, Forbidden, NotFound

QUEUE_LIMIT = 200
RETURN_ACTION = "dispensing.return"


@dataclass(frozen=True)
class Collection:
    """The order after a pick-up, and who stood at the window."""

    order: DispensingOrder
    presence: Presence


@dataclass(frozen=True)
class Return:
    """The order after a return, and the refund of its lines (None when every returned line
    had been refunded at the cashier already); `replayed` on a repeated key."""

    order: DispensingOrder
    refund: Refund | None
    replayed: bool


def get_order(*, ctx: Services, hospital_id: str, order_id: str) -> DispensingOrder:
    """One dispensing order of the caller's hospital."""
    with ctx.uow() as uow:
        return _order(uow, order_id, hospital_id)


def window_queue(
    *, ctx: Services, hospital_id: str, window: str, open_only: bool = True
) -> list[DispensingOrder]:
    """A window's orders, oldest first: those still to hand over, or (open_only False) all."""
    with ctx.uow() as uow:
        return uow.orders.window_queue(hospital_id, window, limit=QUEUE_LIMIT, open_only=open_only)


def last_event(*, ctx: Services, hospital_id: str, window: str) -> int:
    """The window's latest event number: what a stream polls (one indexed max())."""
    with ctx.uow() as uow:
        return uow.orders.last_event(hospital_id, window)


def events_after(
    *, ctx: Services, hospital_id: str, window: str, after: int, limit: int = 50
) -> list[tuple[WindowEvent, DispensingOrder]]:
    """The window's events after `after`, each with its order as it is now."""
    with ctx.uow() as uow:
        events = uow.orders.events_after(hospital_id, window, after, limit=limit)
        return [(event, _order(uow, event.order_id, hospital_id)) for event in events]


def collect(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    order_id: str,
    identification_id: str,
    staff_confirmed: bool,
    handed: Mapping[str, Decimal] | None = None,
) -> Collection:
    """Hand over the whole order (handed None) or these quantities of these lines, to the
    patient or their proxy identified at the window."""
    now = ctx.clock.now()
    patient: list[str] = []  # the order's patient, once read
    try:
        with ctx.uow() as uow:
            order = _order(uow, order_id, hospital_id)
            patient.append(order.person_id)
            bill = hospital_bill(uow, order.bill_id, hospital_id)
            order = _refunded_elsewhere(order, bill)
            collected = order.collect(handed, at=now)
            presence = attend(
                uow,
                identification_id=identification_id,
                hospital_id=hospital_id,
                patient_id=order.person_id,
                act="collect",
                used_for=order.id,
                now=now,
                staff_confirmed=staff_confirmed,
            )
            uow.orders.save_dispensing(collected)
            uow.orders.add_event(
                hospital_id, order.window, order_id=order.id, kind="collected", at=now
            )
            audit(
                ctx,
                uow,
                actor=actor,
                action="dispensing.collect",
                subject=order.id,
                details={
                    "hospital": hospital_id,
                    "bill": order.bill_id,
                    "handed": {
                        line.code: str(line.handed - order.line(line.code).handed)
                        for line in collected.lines
                        if line.handed != order.line(line.code).handed
                    },
                    "status": collected.status,
                    **presence.audit_details(),
                },
            )
            uow.commit()
    except Forbidden as refusal:
        if patient:  # who stood at the window was not the patient nor their proxy
            record_refusal(
                ctx,
                hospital_id=hospital_id,
                actor=actor,
                action="dispensing.collect_refused",
                subject=order_id,
                patient_id=patient[0],
                identification_id=identification_id,
                refusal=refusal,
            )
        raise
    return Collection(collected, presence)


def return_lines(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    order_id: str,
    line_codes: Sequence[str],
    reversal_key: str,
) -> Return:
    """Take back lines not handed over and refund them by line (the rest of the bill is settled
    again), once per key."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        order = _order(uow, order_id, hospital_id)
        if (earlier := _earlier_return(ctx, uow, order, reversal_key, line_codes)) is not None:
            return earlier
        returned = order.take_back(line_codes, at=now)
        bill = hospital_bill(uow, order.bill_id, hospital_id)
        on_bill = {line.code for line in bill.bill.lines} if bill.status == "paid" else set()
        to_refund = sorted(code for code in line_codes if code in on_bill)
        refund = None
        if to_refund:
            refund = refund_in_transaction(
                ctx,
                uow,
                hospital_id=hospital_id,
                actor=actor,
                bill_id=bill.id,
                reversal_key=reversal_key,
                line_codes=to_refund,
            )
        uow.orders.save_dispensing(returned)
        uow.orders.add_event(hospital_id, order.window, order_id=order.id, kind="returned", at=now)
        audit(
            ctx,
            uow,
            actor=actor,
            action=RETURN_ACTION,
            subject=order.id,
            details={
                "hospital": hospital_id,
                "bill": bill.id,
                "person": order.person_id,
                "lines": sorted(line_codes),
                "refunded_lines": to_refund,
                "refunded_fen": refund.refunded_fen if refund else 0,
                "key": reversal_key,
            },
        )
        uow.commit()
    return Return(returned, refund, replayed=False)


def _earlier_return(
    ctx: Services, uow: UnitOfWork, order: DispensingOrder, key: str, codes: Sequence[str]
) -> Return | None:
    """The return this key made before, replayed; None for a new key. A key that refunded
    something else is a conflict (refund_in_transaction checks the bill and lines)."""
    done = [
        entry.details
        for entry in uow.audit.by_subject(order.hospital_id, order.id)
        if entry.action == RETURN_ACTION and entry.details.get("key") == key
    ]
    if not done:
        if uow.settlements.by_reversal_key(key) is not None:
            raise Conflict("this key refunded something else", code="idempotency_conflict")
        return None
    if done[0].get("lines") != sorted(codes):
        raise Conflict("this key returned other lines", code="idempotency_conflict")
    lines = done[0].get("refunded_lines")
    refund = None
    if isinstance(lines, list) and lines:
        refund = refund_in_transaction(
            ctx,
            uow,
            hospital_id=order.hospital_id,
            actor="replay",
            bill_id=order.bill_id,
            reversal_key=key,
            line_codes=[str(code) for code in lines],
        )
    return Return(order, refund, replayed=True)


def _refunded_elsewhere(order: DispensingOrder, bill: PostedBill) -> DispensingOrder:
    """Lines the cashier refunded since the order was queued are not handed over: they leave
    the order as returned (a wholly refunded bill hands over nothing)."""
    if bill.status != "paid":
        raise Conflict(f"the bill is {bill.status}", code=f"bill_{bill.status}")
    on_bill = {line.code for line in bill.bill.lines}
    gone = [
        line.code
        for line in order.lines
        if line.code not in on_bill and not line.returned and not line.handed
    ]
    return order.take_back(gone, at=order.updated_at) if gone else order


def _order(uow: UnitOfWork, order_id: str, hospital_id: str) -> DispensingOrder:
    order = uow.orders.dispensing(order_id, hospital_id)
    if order is None:
        raise NotFound("no such dispensing order")
    return order
