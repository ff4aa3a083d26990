"""Bills: posted by the hospital system, pre-settled for the screen, paid after identification.

A payment needs a fresh, unused identification of the bill's own patient at the same hospital
(real-name treatment). Face identifications pay without a password below the limits of
INSURANCE.md §5 (Settings.face_pay_limit_*: bill total in fen); from the limit on, the patient
also gives the last 4 digits of their phone or ID number. Identification by ID number +
insurance card, or one already resolved by a second factor, has no such limit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from facepay.hospital.bills import LineOrder, PointOfSale, PostedBill
from facepay.identity.id_card import normalise_id_number
from facepay.identity.records import InsuredPerson
from facepay.insurance.model import Bill, Coverage, Settlement
from facepay.insurance.platform import Claim, RemoteSettlement
from facepay.insurance.settlement import settle
from facepay.services import orders
from facepay.services.context import Services
from facepay.services.emergency_arrears import settle_paid_bill
from facepay.services.payments import (
    Payer,
    Receipt,
    check_key,
    settle_in_transaction,
    standing,
)
from facepay.services.platform_claims import claim_of, operator_of, undo_unbooked
from facepay.services.ports import UnitOfWork
from facepay.services.presence import Presence, attend
from facepay.services.support import audit, face_pay_limit, require_hospital
from facepay.shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from facepay.shared.ids import new_id

MAX_REF = 100


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
    line_orders: tuple[LineOrder, ...] = (),
) -> PostedBill:
    """Store a bill the hospital system posts for an insured person (amounts from the hospital),
    with the order data of its lines if the hospital sends it (kind, department, window, the
    ordering doctor: a doctor of this site)."""
    if not external_ref or len(external_ref) > MAX_REF or not external_ref.isprintable():
        raise InvalidInput(f"external_ref: 1 to {MAX_REF} printable characters")
    if point_of_sale not in ("hospital", "pharmacy"):
        raise InvalidInput("point_of_sale: hospital or pharmacy")
    _check_service_date(ctx, bill)
    if not any(line.unit_price for line in bill.lines):
        raise InvalidInput("the bill comes to 0 fen: nothing to pay", code="empty_bill")
    codes = [line.code for line in bill.lines]
    if len(set(codes)) != len(codes):
        # A refund by line, a pick-up or an exam names its line by code.
        raise InvalidInput("each line of a bill has its own code", code="duplicate_line_code")
    number = normalise_id_number(id_number)
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        person = uow.people.by_id_number(number)
        if person is None:
            raise NotFound("the ID number is not in the insurance registry", code="not_insured")
        ctx.policies.pick(service_date=bill.service_date, category=person.category)
        _check_line_orders(uow, hospital_id, bill, line_orders)
        posted = PostedBill(
            id=new_id("bil"),
            hospital_id=hospital_id,
            person_id=person.id,
            external_ref=external_ref,
            bill=bill,
            point_of_sale=point_of_sale,
            status="open",
            created_at=ctx.clock.now(),
            orders=line_orders,
        )
        uow.bills.add(posted)
        audit(
            ctx,
            uow,
            actor=actor,
            action="bill.post",
            subject=posted.id,
            details={"hospital": hospital_id, "person": person.id, "total_fen": posted.total},
        )
        uow.commit()
    return posted


def _check_line_orders(
    uow: UnitOfWork, hospital_id: str, bill: Bill, line_orders: tuple[LineOrder, ...]
) -> None:
    """Order data names lines of the bill, and an ordering doctor is a doctor of this site
    (only they read the result: facepay.services.exams)."""
    codes = {line.code for line in bill.lines}
    if not {order.code for order in line_orders} <= codes:
        raise InvalidInput("order data names a line the bill does not have", code="bad_line_order")
    for doctor in {order.ordered_by for order in line_orders} - {None}:
        staff = uow.tenants.staff_by_id(doctor) if doctor else None
        found = (staff.hospital_id, staff.role, staff.active) if staff else None
        if found != (hospital_id, "doctor", True):
            raise InvalidInput(
                f"ordered_by {doctor}: not a doctor of this hospital", code="bad_ordering_doctor"
            )


def _check_service_date(ctx: Services, bill: Bill) -> None:
    """A visit happened at most `bill_max_age_days` ago and not after today. One day of slack
    either way: the server's clock is UTC, the hospital's day may already be tomorrow."""
    today = ctx.clock.now().date()
    earliest = today - timedelta(days=ctx.settings.bill_max_age_days + 1)
    if not earliest <= bill.service_date <= today + timedelta(days=1):
        raise InvalidInput(
            f"service_date {bill.service_date} is not a day of the last "
            f"{ctx.settings.bill_max_age_days} days",
            code="bad_service_date",
        )


def get_bill(*, ctx: Services, hospital_id: str, bill_id: str) -> PostedBill:
    """One bill of the caller's hospital."""
    with ctx.uow() as uow:
        return hospital_bill(uow, bill_id, hospital_id)


def presettle(*, ctx: Services, hospital_id: str, bill_id: str) -> Presettlement:
    """The split of an open bill on the person's current accumulators and balance."""
    with ctx.uow() as uow:
        posted = hospital_bill(uow, bill_id, hospital_id)
        if posted.status != "open":
            raise Conflict(f"the bill is {posted.status}", code=f"bill_{posted.status}")
        person = registered_person(uow, posted.person_id)
        policy = ctx.policies.pick(service_date=posted.bill.service_date, category=person.category)
        accumulators, available = standing(uow, person.id, posted.bill.service_date.year)
        coverage = Coverage(
            category=person.category,
            personal_account_balance=available,
            medical_assistance=person.medical_assistance,
        )
        settlement = settle(
            bill=posted.bill, coverage=coverage, accumulators=accumulators, policy=policy
        )
    limit = face_pay_limit(ctx, posted.point_of_sale)
    return Presettlement(posted, settlement, policy.id, posted.total >= limit)


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
    now = ctx.clock.now()
    claim = remote = None
    if ctx.platform.remote:
        # The platform is asked outside any transaction, after the same checks the payment's
        # transaction makes (so that a refusal costs no settlement on the platform).
        with ctx.uow() as uow:
            claim = _checked_claim(
                ctx,
                uow,
                hospital_id=hospital_id,
                actor=actor,
                bill_id=bill_id,
                identification_id=identification_id,
                key=idempotency_key,
                second_factor=second_factor,
                now=now,
            )
        remote = ctx.platform.settle(claim) if claim is not None else None
    try:
        return _pay(
            ctx,
            hospital_id=hospital_id,
            actor=actor,
            bill_id=bill_id,
            identification_id=identification_id,
            idempotency_key=idempotency_key,
            second_factor=second_factor,
            now=now,
            remote=remote,
        )
    except BaseException as error:
        if claim is not None and remote is not None:
            undo_unbooked(ctx, claim=claim, remote=remote, error=error)
        raise


def _checked_claim(
    ctx: Services,
    uow: UnitOfWork,
    *,
    hospital_id: str,
    actor: str,
    bill_id: str,
    identification_id: str,
    key: str,
    second_factor: str | None,
    now: datetime,
) -> Claim | None:
    """The platform claim of an open bill the caller may pay now (None: the bill is not open,
    so the payment's transaction replays or refuses without the platform). Nothing commits."""
    posted = hospital_bill(uow, bill_id, hospital_id)
    if posted.status != "open":
        return None
    check_key(key)
    person = registered_person(uow, posted.person_id)
    ctx.policies.pick(service_date=posted.bill.service_date, category=person.category)
    presence = _payer(uow, identification_id, hospital_id, person.id, now, used_for=posted.id)
    if presence.method == "face" and posted.total >= face_pay_limit(ctx, posted.point_of_sale):
        present = person if not presence.by_proxy else registered_person(uow, presence.person_id)
        _check_second_factor(present, second_factor)
    return claim_of(
        posted_ref=posted.external_ref,
        hospital_id=posted.hospital_id,
        bill=posted.bill,
        person=person,
        operator=operator_of(uow, actor),
        key=key,
    )


def _pay(
    ctx: Services,
    *,
    hospital_id: str,
    actor: str,
    bill_id: str,
    identification_id: str,
    idempotency_key: str,
    second_factor: str | None,
    now: datetime,
    remote: RemoteSettlement | None,
) -> Payment:
    with ctx.uow() as uow:
        posted = hospital_bill(uow, bill_id, hospital_id)
        person = registered_person(uow, posted.person_id)
        policy = ctx.policies.pick(service_date=posted.bill.service_date, category=person.category)
        payer = Payer(person.id, person.category, person.medical_assistance)
        if posted.status != "open":
            return _replay(uow, posted, payer, policy_id=policy.id, key=idempotency_key, ctx=ctx)
        presence = _payer(uow, identification_id, hospital_id, person.id, now, used_for=posted.id)
        if presence.method == "face" and posted.total >= face_pay_limit(ctx, posted.point_of_sale):
            # The digits of whoever stands there: the patient's, or their proxy's.
            present = (
                person if not presence.by_proxy else registered_person(uow, presence.person_id)
            )
            _check_second_factor(present, second_factor)
        receipt = settle_in_transaction(
            uow,
            hospital_id=hospital_id,
            bill=posted.bill,
            payer=payer,
            policy=policy,
            idempotency_key=idempotency_key,
            now=now,
            remote=remote,
        )
        if receipt.replayed:
            raise Conflict("this idempotency key paid another bill", code="idempotency_conflict")
        paid = replace(posted, status="paid", settlement_id=receipt.record.id, paid_at=now)
        uow.bills.save(paid)
        orders.on_paid(ctx, uow, paid, actor=actor, now=now)
        # An emergency record's bill also clears the arrears it carried (same transaction).
        settle_paid_bill(ctx, uow, bill=paid, actor=actor, now=now)
        s = receipt.record.settlement
        audit(
            ctx,
            uow,
            actor=actor,
            action="payment.settle",
            subject=posted.id,
            details={
                "hospital": hospital_id,
                "person": person.id,
                "identification": presence.identification_id,
                "method": presence.method,
                "settlement": receipt.record.id,
                "total_fen": s.medfee_sumamt,
                "fund_fen": s.fund_pay_sumamt,
                "account_fen": s.acct_pay,
                "cash_fen": s.psn_cash_pay,
                "proxy": presence.person_id if presence.by_proxy else None,
                "proxy_grant": presence.proxy_grant_id,
            },
        )
        uow.commit()
    return Payment(paid, receipt)


def _payer(
    uow: UnitOfWork,
    identification_id: str,
    hospital_id: str,
    patient_id: str,
    now: datetime,
    *,
    used_for: str,
) -> Presence:
    """The bill's patient, or a proxy whose grant covers paying for them, was identified (a
    card pays at a kiosk as before: no staff confirmation is asked for a payment); the
    identification is used for the bill (kept only if the payment commits)."""
    try:
        return attend(
            uow,
            identification_id=identification_id,
            hospital_id=hospital_id,
            patient_id=patient_id,
            act="pay",
            used_for=used_for,
            now=now,
            staff_confirmed=True,
            card_needs_staff=False,
        )
    except Forbidden as refused:
        if refused.code != "not_the_patient":
            raise
        raise Forbidden(
            "this identification is not of the bill's patient", code="wrong_patient"
        ) from None


def _replay(
    uow: UnitOfWork, posted: PostedBill, payer: Payer, *, policy_id: str, key: str, ctx: Services
) -> Payment:
    """A paid bill: the same key replays its receipt; anything else is a conflict."""
    record = uow.settlements.get(posted.settlement_id) if posted.settlement_id else None
    if record is None or record.idempotency_key != key:
        raise Conflict(f"the bill is {posted.status}", code=f"bill_{posted.status}")
    policy = ctx.policies.get(policy_id)
    receipt = settle_in_transaction(
        uow,
        hospital_id=posted.hospital_id,
        bill=posted.bill,
        payer=payer,
        policy=policy,
        idempotency_key=key,
        now=record.created_at,
    )
    return Payment(posted, receipt)


def _check_second_factor(person: InsuredPerson, second_factor: str | None) -> None:
    if second_factor is None:
        raise Forbidden(
            "above the face-payment limit: enter the last 4 digits of your phone or ID number",
            code="second_factor_required",
        )
    if not person.second_factor_matches(second_factor):
        raise Forbidden("the digits do not match", code="second_factor_failed")


def hospital_bill(uow: UnitOfWork, bill_id: str, hospital_id: str) -> PostedBill:
    """The bill, if it is of this hospital (NotFound otherwise, whether it exists or not)."""
    posted = uow.bills.get(bill_id, hospital_id)
    if posted is None:
        raise NotFound("no such bill")
    return posted


def registered_person(uow: UnitOfWork, person_id: str) -> InsuredPerson:
    """The insured person (NotFound if absent)."""
    person = uow.people.get(person_id)
    if person is None:
        raise NotFound("no such person")
    return person
