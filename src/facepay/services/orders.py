"""What a payment sets going, inside the payment's own transaction: dispensing orders for the
pharmacy windows and service requests on the departments' worklists.

`on_paid` is called by `facepay.services.bills.pay_bill` right after the bill is saved as paid,
so an order exists exactly when its payment committed; the windows' event streams then find it
(facepay.api.routes.orders).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from facepay.hospital.bills import PostedBill
from facepay.hospital.orders import (
    REQUESTED_KINDS,
    DispensingLine,
    DispensingOrder,
    ServiceRequest,
    dispensing_groups,
)
from facepay.services.context import Storage
from facepay.services.ports import UnitOfWork
from facepay.services.support import audit
from facepay.shared.errors import Conflict
from facepay.shared.ids import new_id
from facepay.shared.money import round_half_up


def on_paid(
    ctx: Storage, uow: UnitOfWork, paid: PostedBill, *, actor: str, now: datetime
) -> tuple[list[DispensingOrder], list[ServiceRequest]]:
    """Queue the paid bill's medicines (one order per pharmacy window) and put its exam and
    lab lines on their departments' worklists (one request per line), audited."""
    orders = [
        _dispensing_order(uow, paid, window, codes, now)
        for window, codes in dispensing_groups(paid, ctx.settings.pharmacy_default_window).items()
    ]
    for order in orders:
        audit(
            ctx,
            uow,
            actor=actor,
            action="dispensing.create",
            subject=order.id,
            details={
                "hospital": paid.hospital_id,
                "bill": paid.id,
                "person": paid.person_id,
                "window": order.window,
                "lines": [line.code for line in order.lines],
            },
        )
    requests = []
    for line in paid.bill.lines:
        wanted = paid.order_of(line.code)
        if wanted.kind not in REQUESTED_KINDS:
            continue
        # LineOrder refuses an exam or lab line without both.
        assert wanted.department is not None
        assert wanted.ordered_by is not None
        request = ServiceRequest(
            id=new_id("srq"),
            hospital_id=paid.hospital_id,
            bill_id=paid.id,
            line_code=line.code,
            name=line.name,
            kind=wanted.kind,
            department=wanted.department,
            ordered_by=wanted.ordered_by,
            person_id=paid.person_id,
            status="requested",
            created_at=now,
        )
        uow.orders.add_request(request)
        requests.append(request)
        audit(
            ctx,
            uow,
            actor=actor,
            action="exam.request",
            subject=request.id,
            details={
                "hospital": paid.hospital_id,
                "bill": paid.id,
                "line": line.code,
                "department": request.department,
                "ordered_by": request.ordered_by,
            },
        )
    return orders, requests


def _dispensing_order(
    uow: UnitOfWork, paid: PostedBill, window: str, codes: list[str], now: datetime
) -> DispensingOrder:
    wanted = set(codes)
    order = DispensingOrder(
        id=new_id("dsp"),
        hospital_id=paid.hospital_id,
        bill_id=paid.id,
        person_id=paid.person_id,
        window=window,
        lines=tuple(
            DispensingLine(
                code=line.code,
                name=line.name,
                quantity=line.quantity,
                amount=round_half_up(line.unit_price * line.quantity),
            )
            for line in paid.bill.lines
            if line.code in wanted
        ),
        created_at=now,
        updated_at=now,
    )
    uow.orders.add_dispensing(order)
    uow.orders.add_event(paid.hospital_id, window, order_id=order.id, kind="created", at=now)
    return order


def check_refundable(uow: UnitOfWork, paid: PostedBill, codes: Collection[str] | None) -> None:
    """A refund (of `codes`, or of every line) takes back nothing the patient already has:
    no medicine handed over at a window, no exam or test the patient checked in for. Called
    with the bill locked, so a pick-up or a check-in racing the refund waits for it and then
    finds the line gone (facepay.services.dispensing, facepay.services.exams)."""
    wanted = None if codes is None else set(codes)
    for order in uow.orders.dispensing_of_bill(paid.id):
        for line in order.lines:
            if line.handed and (wanted is None or line.code in wanted):
                raise Conflict(
                    f"line {line.code} was handed over at window {order.window}",
                    code="line_handed_over",
                )
    for request in uow.orders.requests_of_bill(paid.id):
        if request.status != "requested" and (wanted is None or request.line_code in wanted):
            raise Conflict(
                f"line {request.line_code}: the patient has checked in for it",
                code="request_checked_in",
            )
