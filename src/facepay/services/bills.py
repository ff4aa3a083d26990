"""Bills: posted by the hospital system, pre-settled for the screen, paid after identification."""

from __future__ import annotations

from dataclasses import dataclass

from facepay.hospital.bills import PointOfSale, PostedBill
from facepay.insurance.model import Bill, Settlement
from facepay.services.context import Services
from facepay.services.payments import Receipt


@dataclass(frozen=True)
class Presettlement:
    """The split the screen shows; nothing is stored."""

    bill: PostedBill
    settlement: Settlement
    policy_id: str
    second_factor_required: bool


@dataclass(frozen=True)
class Payment:
    """A paid bill and its receipt (`receipt.replayed` when the idempotency key was seen)."""

    bill: PostedBill
    receipt: Receipt


def post_bill(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    id_number: str,
    external_ref: str,
    bill: Bill,
    point_of_sale: PointOfSale = "hospital",
) -> PostedBill:
    """Store a bill the hospital system posts for an insured person (amounts from the hospital)."""
    raise NotImplementedError


def get_bill(*, ctx: Services, hospital_id: str, bill_id: str) -> PostedBill:
    """One bill of the caller's hospital."""
    raise NotImplementedError


def presettle(*, ctx: Services, hospital_id: str, bill_id: str) -> Presettlement:
    """The split of an open bill on the person's current accumulators and balance."""
    raise NotImplementedError


def pay_bill(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    bill_id: str,
    identification_id: str,
    idempotency_key: str,
    second_factor: str | None = None,
) -> Payment:
    """Settle and post an open bill for the identified patient, once per idempotency key."""
    raise NotImplementedError
