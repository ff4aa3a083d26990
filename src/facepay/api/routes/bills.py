"""Bills: posted by the hospital system, pre-settled for the screen, paid, refunded.

Amounts always come from the stored bill: payment and refund bodies carry no amount, fund or
account field (unknown fields are refused), and a bill is found only inside the caller's hospital.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, status
from pydantic import Field

from facepay.access.rbac import Permission, Principal
from facepay.api.access import may
from facepay.api.deps import IdempotencyKey, StateDep
from facepay.api.problems import errors
from facepay.api.schemas import Id, LineFen, PlainText, RequestModel, ResponseModel
from facepay.hospital.bills import LineOrder, OrderKind, PostedBill
from facepay.insurance.model import Bill, BillLine, Settlement
from facepay.services import bills as bill_service
from facepay.services import refunds
from facepay.shared.money import round_half_up

router = APIRouter(prefix="/v1/bills", tags=["bills"])
Code = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Label = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[\w.:\-]+$")]
"""A department or pharmacy window name (letters of any script, digits, `_ . : -`)."""
ORDER_FIELDS = frozenset({"kind", "department", "window", "ordered_by"})


class FeeLineCreate(RequestModel):
    """One fee line as the hospital system prices it: what the insurance split reads."""

    code: Code
    name: Annotated[PlainText, Field(min_length=1, max_length=120)]
    item_class: Literal["A", "B", "C"]
    unit_price: LineFen
    quantity: Annotated[Decimal, Field(gt=0, le=100_000, max_digits=12, decimal_places=4)]
    """unit_price x quantity may come to at most 10^10 fen, and a bill to 10^11 fen."""
    price_ceiling: LineFen | None = None
    selfpay_ratio: Annotated[Decimal, Field(ge=0, le=1, max_digits=6, decimal_places=4)] | None = (
        None
    )

    def to_domain(self) -> BillLine:
        """The insurance line (order data, if any, stays out of it)."""
        return BillLine(**self.model_dump(include=set(FeeLineCreate.model_fields)))


class BillLineCreate(FeeLineCreate):
    """A fee line of a posted bill, with the hospital's order data for the line if any."""

    # Hospital-side order data, outside the insurance line (it does not change the split).
    kind: OrderKind | None = None
    """drug lines go to a pharmacy window, exam and lab lines to a department's worklist."""
    department: Label | None = None
    """The department that performs an exam or lab line (required for those)."""
    window: Label | None = None
    """The pharmacy window that hands out a drug line (default: the site's default window)."""
    ordered_by: Id | None = None
    """The ordering doctor's staff id (required for exam and lab lines): they read the result."""

    def line_order(self) -> LineOrder | None:
        """The order data, if the line carries any."""
        if not self.model_fields_set & ORDER_FIELDS:
            return None
        return LineOrder(
            code=self.code,
            kind=self.kind or "other",
            department=self.department,
            window=self.window,
            ordered_by=self.ordered_by,
        )


class BillCreate(RequestModel):
    """A bill for the insured person with this ID number at the caller's hospital."""

    external_ref: Code
    id_number: Annotated[str, Field(min_length=18, max_length=18, pattern=r"^\d{17}[\dXx]$")]
    visit_type: Literal["outpatient", "inpatient"]
    hospital_tier: Annotated[int, Field(strict=True, ge=1, le=3)]
    service_date: date
    """The day of the visit (admission): not in the future, at most `bill_max_age_days` ago."""
    point_of_sale: Literal["hospital", "pharmacy"] = "hospital"
    lines: Annotated[list[BillLineCreate], Field(min_length=1, max_length=200)]

    def to_domain(self) -> Bill:
        """The insurance bill."""
        return Bill(
            visit_type=self.visit_type,
            hospital_tier=self.hospital_tier,
            service_date=self.service_date,
            lines=tuple(line.to_domain() for line in self.lines),
        )

    def line_orders(self) -> tuple[LineOrder, ...]:
        """The order data of the lines that carry any."""
        return tuple(order for line in self.lines if (order := line.line_order()) is not None)


class BillLineRead(ResponseModel):
    """A line of a stored bill."""

    code: str
    name: str
    item_class: str
    unit_price: int
    quantity: Decimal
    amount: int
    kind: str = "other"
    department: str | None = None
    window: str | None = None
    ordered_by: str | None = None


class BillRead(ResponseModel):
    """A stored bill (the patient by id only)."""

    id: str
    external_ref: str
    person_id: str
    status: Literal["open", "paid", "refunded", "cancelled"]
    point_of_sale: str
    visit_type: str
    service_date: date
    total: int
    lines: list[BillLineRead]
    settlement_id: str | None = None
    paid_at: datetime | None = None


class SplitRead(ResponseModel):
    """Who pays what (fen), under the national platform's field names, with the explanation."""

    policy_id: str
    medfee_sumamt: int
    fund_pay_sumamt: int
    hifp_pay: int
    hifmi_pay: int
    maf_pay: int
    acct_pay: int
    psn_cash_pay: int
    psn_part_amt: int
    balc: int
    explanation: list[str]


class PresettlementRead(ResponseModel):
    """The split the kiosk shows before the patient confirms; nothing is stored."""

    bill_id: str
    split: SplitRead
    second_factor_required: bool


class PaymentCreate(RequestModel):
    """Pay with an identification of this hospital; no amounts: they come from the bill."""

    identification_id: Id
    second_factor: Annotated[str, Field(pattern=r"^[0-9]{3}[0-9Xx]$")] | None = None


class PaymentRead(ResponseModel):
    """The receipt: the split and the ledger transfers, `replayed` on a repeated key."""

    bill: BillRead
    settlement_id: str
    split: SplitRead
    transfers: int
    replayed: bool


class RefundCreate(RequestModel):
    """Refund the whole bill (no lines) or only these line codes."""

    line_codes: Annotated[list[Code], Field(min_length=1, max_length=200)] | None = None


class RefundRead(ResponseModel):
    """The reversal, and the re-settlement of the remaining lines when refunding by line."""

    bill: BillRead
    reversed_settlement_id: str
    refunded_fen: int
    resettlement: SplitRead | None
    replayed: bool


def bill_read(posted: PostedBill) -> BillRead:
    """The API form of a stored bill."""
    lines = [
        BillLineRead(
            code=line.code,
            name=line.name,
            item_class=line.item_class,
            unit_price=line.unit_price,
            quantity=line.quantity,
            amount=round_half_up(line.unit_price * line.quantity),
            kind=(order := posted.order_of(line.code)).kind,
            department=order.department,
            window=order.window,
            ordered_by=order.ordered_by,
        )
        for line in posted.bill.lines
    ]
    return BillRead(
        id=posted.id,
        external_ref=posted.external_ref,
        person_id=posted.person_id,
        status=posted.status,
        point_of_sale=posted.point_of_sale,
        visit_type=posted.bill.visit_type,
        service_date=posted.bill.service_date,
        total=posted.total,
        lines=lines,
        settlement_id=posted.settlement_id,
        paid_at=posted.paid_at,
    )


def split_read(settlement: Settlement) -> SplitRead:
    """The split of a settlement for the screen."""
    return SplitRead(
        policy_id=settlement.policy_id,
        medfee_sumamt=settlement.medfee_sumamt,
        fund_pay_sumamt=settlement.fund_pay_sumamt,
        hifp_pay=settlement.hifp_pay,
        hifmi_pay=settlement.hifmi_pay,
        maf_pay=settlement.maf_pay,
        acct_pay=settlement.acct_pay,
        psn_cash_pay=settlement.psn_cash_pay,
        psn_part_amt=settlement.psn_part_amt,
        balc=settlement.balc,
        explanation=[step.text for step in settlement.explanation],
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BillRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429),
)
def post_bill(
    body: BillCreate, state: StateDep, who: Annotated[Principal, may(Permission.BILL_CREATE)]
) -> BillRead:
    """The hospital system posts a bill (staff, or a terminal registered as kind `his`)."""
    posted = bill_service.post_bill(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        id_number=body.id_number,
        external_ref=body.external_ref,
        bill=body.to_domain(),
        point_of_sale=body.point_of_sale,
        line_orders=body.line_orders(),
    )
    return bill_read(posted)


@router.get("/{bill_id}", response_model=BillRead, responses=errors(401, 403, 404, 422, 429))
def get_bill(
    bill_id: Id, state: StateDep, who: Annotated[Principal, may(Permission.BILL_READ)]
) -> BillRead:
    """One bill of the caller's hospital."""
    posted = bill_service.get_bill(ctx=state.services, hospital_id=who.hospital, bill_id=bill_id)
    return bill_read(posted)


@router.post(
    "/{bill_id}/presettlement",
    response_model=PresettlementRead,
    responses=errors(401, 403, 404, 409, 422, 429),
)
def presettle(
    bill_id: Id, state: StateDep, who: Annotated[Principal, may(Permission.PAYMENT_PRESETTLE)]
) -> PresettlementRead:
    """Compute the split for the screen; nothing is stored or moved."""
    result = bill_service.presettle(ctx=state.services, hospital_id=who.hospital, bill_id=bill_id)
    return PresettlementRead(
        bill_id=result.bill.id,
        split=split_read(result.settlement),
        second_factor_required=result.second_factor_required,
    )


@router.post(
    "/{bill_id}/payments",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429, 503),
)
def pay(
    bill_id: Id,
    body: PaymentCreate,
    key: IdempotencyKey,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PAYMENT_SETTLE)],
) -> PaymentRead:
    """Settle the bill and post the ledger transfers in one transaction, once per key."""
    payment = bill_service.pay_bill(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        bill_id=bill_id,
        identification_id=body.identification_id,
        idempotency_key=f"{who.hospital}:{key}",
        second_factor=body.second_factor,
    )
    receipt = payment.receipt
    state.push.notify(who.hospital)  # the windows' streams look for the new orders at once
    state.metrics.settlements.labels("replayed" if receipt.replayed else "settled").inc()
    return PaymentRead(
        bill=bill_read(payment.bill),
        settlement_id=receipt.record.id,
        split=split_read(receipt.record.settlement),
        transfers=len(receipt.transfers),
        replayed=receipt.replayed,
    )


@router.post(
    "/{bill_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    response_model=RefundRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429, 503),
)
def refund(
    bill_id: Id,
    body: RefundCreate,
    key: IdempotencyKey,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PAYMENT_REFUND)],
) -> RefundRead:
    """Refund a paid bill in full or by line (cashiers up to their limit, admins any amount)."""
    amount = refunds.refund_amount(
        ctx=state.services, hospital_id=who.hospital, bill_id=bill_id, line_codes=body.line_codes
    )
    state.access.policy.require(who, Permission.PAYMENT_REFUND, amount=amount)
    result = refunds.refund_bill(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        bill_id=bill_id,
        reversal_key=f"{who.hospital}:{key}",
        line_codes=body.line_codes,
    )
    state.metrics.settlements.labels("refunded").inc()
    return RefundRead(
        bill=bill_read(result.bill),
        reversed_settlement_id=result.reversal.record.id,
        refunded_fen=result.refunded_fen,
        resettlement=split_read(result.resettlement.record.settlement)
        if result.resettlement
        else None,
        replayed=result.reversal.replayed,
    )
