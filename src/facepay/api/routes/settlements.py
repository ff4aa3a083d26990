"""Settlements of the caller's hospital, each with what it was computed from.

A settlement read carries the bill as the policy saw it, the coverage (category, assistance,
what the personal account could pay) and the accumulators before, next to the split under the
national platform's field names: enough for an auditor to recompute every fen
(facepay.demo.recompute does exactly that for the demo day).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter

from facepay.access.rbac import Permission, Principal
from facepay.api.access import may
from facepay.api.deps import StateDep
from facepay.api.pagination import After, Limit, decode_cursor, encode_cursor
from facepay.api.problems import errors
from facepay.api.routes.bills import SplitRead, split_read
from facepay.api.routes.patients import AccumulatorsRead
from facepay.api.schemas import Id, ResponseModel
from facepay.services import lookups
from facepay.services.ports import SettlementRecord

router = APIRouter(prefix="/v1", tags=["settlements"])


class SettledLineRead(ResponseModel):
    """A bill line as the policy priced it."""

    code: str
    name: str
    item_class: str
    unit_price: int
    quantity: Decimal
    price_ceiling: int | None
    selfpay_ratio: Decimal | None


class SettledBillRead(ResponseModel):
    """The bill a settlement split."""

    visit_type: str
    hospital_tier: int
    service_date: date
    lines: list[SettledLineRead]


class PayerRead(ResponseModel):
    """Who paid, as the split saw them."""

    category: str
    medical_assistance: bool
    personal_account_fen: int


class SettlementRead(ResponseModel):
    """A stored settlement: its inputs (null for settlements made before they were kept) and
    its split; `status` reversed once a refund or a discharge cancel undid it."""

    id: str
    person_id: str
    status: Literal["settled", "reversed"]
    created_at: datetime
    reversed_at: datetime | None
    bill: SettledBillRead | None
    payer: PayerRead | None
    accumulators_before: AccumulatorsRead
    split: SplitRead


class SettlementPage(ResponseModel):
    """A page of settlements, oldest first."""

    items: list[SettlementRead]
    next: str | None


def settlement_read(record: SettlementRecord) -> SettlementRead:
    """The API view of a stored settlement."""
    bill = record.bill
    coverage = record.coverage
    return SettlementRead(
        id=record.id,
        person_id=record.person_id,
        status=record.status,
        created_at=record.created_at,
        reversed_at=record.reversed_at,
        bill=SettledBillRead(
            visit_type=bill.visit_type,
            hospital_tier=bill.hospital_tier,
            service_date=bill.service_date,
            lines=[SettledLineRead(**line.__dict__) for line in bill.lines],
        )
        if bill
        else None,
        payer=PayerRead(
            category=coverage.category,
            medical_assistance=coverage.medical_assistance,
            personal_account_fen=coverage.personal_account_balance,
        )
        if coverage
        else None,
        accumulators_before=AccumulatorsRead(**record.accumulators_before.__dict__),
        split=split_read(record.settlement),
    )


@router.get(
    "/settlements", response_model=SettlementPage, responses=errors(400, 401, 403, 422, 429)
)
def list_settlements(
    state: StateDep,
    who: Annotated[Principal, may(Permission.REPORT_READ, terminals=False)],
    limit: Limit = 50,
    after: After = None,
) -> SettlementPage:
    """The caller's hospital's settlements, oldest first, reversed ones included.

    Paged: at most `limit` items (1-200, default 50); `next` is the cursor of the next page."""
    page = lookups.list_settlements(
        ctx=state.services,
        hospital_id=who.hospital,
        after=decode_cursor("settlements", after),
        limit=limit,
    )
    return SettlementPage(
        items=[settlement_read(r) for r in page.items],
        next=encode_cursor("settlements", page.next),
    )


@router.get(
    "/settlements/{settlement_id}",
    response_model=SettlementRead,
    responses=errors(401, 403, 404, 422, 429),
)
def read_settlement(
    settlement_id: Id,
    state: StateDep,
    who: Annotated[Principal, may(Permission.REPORT_READ, terminals=False)],
) -> SettlementRead:
    """One settlement of the caller's hospital."""
    record = lookups.get_settlement(
        ctx=state.services, hospital_id=who.hospital, settlement_id=settlement_id
    )
    return settlement_read(record)
