"""A patient's balances at the window: arrears repaid, refunds due paid out, both read
(facepay.services.balances; docs/offline.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, status
from pydantic import Field

from facepay.access.rbac import Permission, Principal
from facepay.api.access import may
from facepay.api.deps import IdempotencyKey, StateDep
from facepay.api.problems import errors
from facepay.api.routes.offline import OfflineVoucherRead, voucher_read
from facepay.api.schemas import Id, RequestModel, ResponseModel
from facepay.services import balances
from facepay.services.balances import Movement

router = APIRouter(prefix="/v1", tags=["patients"])
Amount = Annotated[int, Field(strict=True, ge=1, le=10**12, description="Integer fen")]


class MovementCreate(RequestModel):
    """How much (fen) and how: in cash at the window or by bank transfer."""

    amount_fen: Amount
    method: Literal["cash", "bank"]


class MovementRead(ResponseModel):
    """A repayment or payout as posted, and what is left to repay or to pay out after it."""

    id: str
    direction: Literal["repayment", "payout"]
    person_id: str
    method: Literal["cash", "bank"]
    amount_fen: int
    remaining_fen: int
    at: datetime
    replayed: bool


class BalancesRead(ResponseModel):
    """What the person owes (arrears) and is owed (refund due), in fen, with the offline
    vouchers of the caller's site that left a difference (newest first, at most 50)."""

    person_id: str
    arrears_fen: int
    repayable_fen: int
    """What the window can take: the arrears less those of merged emergency records, which
    their bills pay."""
    refund_due_fen: int
    vouchers: list[OfflineVoucherRead]


def _read(movement: Movement) -> MovementRead:
    return MovementRead.model_validate(movement)


@router.post(
    "/patients/{person_id}/arrears/repayments",
    status_code=status.HTTP_201_CREATED,
    response_model=MovementRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429, 503),
)
def repay_arrears(
    person_id: Id,
    body: MovementCreate,
    key: IdempotencyKey,
    state: StateDep,
    who: Annotated[Principal, may(Permission.ARREARS_COLLECT, terminals=False)],
) -> MovementRead:
    """The patient pays (part of) their arrears at the window, once per key."""
    return _read(
        balances.repay_arrears(
            ctx=state.services,
            hospital_id=who.hospital,
            actor=who.actor,
            person_id=person_id,
            amount_fen=body.amount_fen,
            method=body.method,
            idempotency_key=key,
        )
    )


@router.post(
    "/patients/{person_id}/refunds-due/payouts",
    status_code=status.HTTP_201_CREATED,
    response_model=MovementRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429, 503),
)
def pay_out_refund_due(
    person_id: Id,
    body: MovementCreate,
    key: IdempotencyKey,
    state: StateDep,
    who: Annotated[Principal, may(Permission.REFUND_DUE_PAY, terminals=False)],
) -> MovementRead:
    """The window pays the patient (part of) the refund due to them, once per key."""
    return _read(
        balances.pay_out_refund_due(
            ctx=state.services,
            hospital_id=who.hospital,
            actor=who.actor,
            person_id=person_id,
            amount_fen=body.amount_fen,
            method=body.method,
            idempotency_key=key,
        )
    )


@router.get(
    "/patients/{person_id}/balances",
    response_model=BalancesRead,
    responses=errors(401, 403, 404, 422, 429),
)
def patient_balances(
    person_id: Id,
    state: StateDep,
    who: Annotated[Principal, may(Permission.BALANCES_READ, terminals=False)],
) -> BalancesRead:
    """What one of the site's patients owes and is owed, and the offline vouchers behind it."""
    found = balances.patient_balances(
        ctx=state.services, hospital_id=who.hospital, person_id=person_id
    )
    return BalancesRead(
        person_id=found.person_id,
        arrears_fen=found.arrears_fen,
        repayable_fen=found.repayable_fen,
        refund_due_fen=found.refund_due_fen,
        vouchers=[voucher_read(v) for v in found.vouchers],
    )
