"""Book, cancel and check in: appointments bound to the person who booked them.

A booking needs a verified identity: an identification of this site consumed by
`presence.attend` (the patient's own face or card, or a proxy's with a live grant to act for
them), or - for the hospital information system's own channels, which verify the person
themselves - the patient's ID number (channel `his`). The person's booking row and then the
session's row are locked before the limits and the free slot are worked out, so two bookings at
once can neither pass a limit together nor take the last slot twice.

The registration fee becomes an outpatient bill of one line for the patient. A booking made with
the patient present pays it in the same transaction through the existing settlement; an HIS
booking leaves it open, to be paid at check-in (by a caller who may settle) or like any bill;
so does a booking by a proxy whose grant does not cover paying (a grant to check in spends none
of the patient's money, at booking or at check-in).
The fee's settlement key is derived from the booking (`appointment:<id>:fee`), so it is paid once
however it is paid. A timely cancel refunds it in full (services.refunds); a late cancel or a
no-show does not.

Check-in consumes a fresh identification that must be of the booked person (a 1:1 face match
from /v1/identifications/verify, a 1:N one, or a card confirmed by staff): a resold booking
cannot be used by its buyer. A refused check-in is audited (`appointment.check_in_refused`) so
that supervision sees resale attempts. Every booking, cancel and check-in is an audit entry in the
transaction that makes it: the site's audit chain is the event stream the supervision rules read.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from facepay.hospital.appointments import (
    FEE_REF_PREFIX,
    Appointment,
    Channel,
    Schedule,
    cancel_outcome,
    check_bookable,
    check_cancellable,
    check_check_in,
    check_limits,
    free_slot,
    week_of,
)
from facepay.hospital.bills import PostedBill
from facepay.identity.id_card import normalise_id_number
from facepay.identity.records import InsuredPerson
from facepay.insurance.model import Bill, BillLine
from facepay.services.bills import hospital_bill, registered_person
from facepay.services.context import Services
from facepay.services.payments import Payer, Receipt, settle_in_transaction
from facepay.services.ports import UnitOfWork
from facepay.services.presence import Presence, attend, check_presence, record_refusal
from facepay.services.refunds import Refund, refund_in_transaction
from facepay.services.schedules import site_policy, site_schedule
from facepay.services.support import audit, require_hospital
from facepay.shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from facepay.shared.ids import new_id

_RANDOM = secrets.SystemRandom()


@dataclass(frozen=True)
class AppointmentView:
    """A booking, its session and its registration bill (None for a free session)."""

    appointment: Appointment
    schedule: Schedule
    bill: PostedBill | None
    receipt: Receipt | None = None
    """The fee's settlement when this call paid it."""
    refund: Refund | None = None
    """The fee's refund when this call (a timely cancel) made it."""
    presence: Presence | None = None
    replayed: bool = False


def fee_key(appointment_id: str) -> str:
    """The settlement key of a booking's registration fee: one payment per booking."""
    return f"appointment:{appointment_id}:fee"


def refund_key(appointment_id: str) -> str:
    """The reversal key of a booking's fee refund: one refund per booking."""
    return f"appointment:{appointment_id}:cancel"


def book(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    channel: Channel,
    schedule_id: str,
    idempotency_key: str,
    identification_id: str | None = None,
    patient_id: str | None = None,
    id_number: str | None = None,
    staff_confirmed: bool = False,
) -> AppointmentView:
    """Book the first free slot of a session for a verified person, once per idempotency key."""
    if (identification_id is None) == (id_number is None):
        raise InvalidInput(
            "give identification_id (a verified identity) or, from the HIS, id_number",
            code="booking_identity",
        )
    if id_number is not None and (channel != "his" or patient_id is not None):
        raise Forbidden(
            "only the hospital information system books by ID number", code="his_channel_only"
        )
    now = ctx.clock.now()
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        if (done := uow.appointments.by_key(hospital_id, idempotency_key)) is not None:
            return _replayed_booking(uow, done, schedule_id=schedule_id, hospital_id=hospital_id)
        site_schedule(uow, schedule_id, hospital_id)
        appointment_id = new_id("apt")
        presence = None
        if identification_id is not None:
            patient = patient_id or _identified_person(uow, identification_id, hospital_id)
            pays = _may_pay(uow, identification_id, hospital_id, patient, now)
            presence = attend(
                uow,
                identification_id=identification_id,
                hospital_id=hospital_id,
                patient_id=patient,
                act="check_in",
                used_for=appointment_id,
                now=now,
                staff_confirmed=staff_confirmed,
                card_needs_staff=False,
            )
            person = registered_person(uow, presence.patient_id)
        else:
            assert id_number is not None
            person = _insured(uow, id_number)
        uow.appointments.lock_person(hospital_id, person.id)
        schedule = site_schedule(uow, schedule_id, hospital_id, lock=True)
        check_bookable(schedule, now)
        monday, sunday = week_of(schedule.session_date)
        held = uow.appointments.held_by(hospital_id, person.id, start=monday, end=sunday)
        check_limits(site_policy(ctx, uow, hospital_id), schedule, held)
        booked = uow.appointments.of_schedules([schedule.id])[schedule.id]
        slot = free_slot(schedule, booked, now)
        if slot is None:
            raise Conflict("every slot of this session is taken", code="session_full")
        bill = _fee_bill(ctx, uow, schedule, person, appointment_id, actor=actor, now=now)
        receipt = None
        if bill is not None and presence is not None and pays:
            bill, receipt = _pay_fee(
                ctx,
                uow,
                bill,
                person,
                presence,
                appointment_id=appointment_id,
                actor=actor,
                now=now,
            )
        appointment = Appointment(
            id=appointment_id,
            hospital_id=hospital_id,
            schedule_id=schedule.id,
            person_id=person.id,
            slot=slot,
            channel=channel,
            status="booked",
            idempotency_key=idempotency_key,
            booked_at=now,
            booked_by=actor,
            bill_id=bill.id if bill else None,
            proxy_grant_id=presence.proxy_grant_id if presence else None,
        )
        uow.appointments.add(appointment)
        audit(
            ctx,
            uow,
            actor=actor,
            action="appointment.book",
            subject=appointment.id,
            details={
                **_event(appointment, schedule, channel=channel, presence=presence),
                "bill": appointment.bill_id,
                "fee_fen": schedule.fee.fee_fen,
                "fee_paid": receipt is not None,
            },
        )
        uow.commit()
    return AppointmentView(appointment, schedule, bill, receipt=receipt, presence=presence)


def get_appointment(*, ctx: Services, hospital_id: str, appointment_id: str) -> AppointmentView:
    """One booking of the caller's site, with its session and fee bill."""
    with ctx.uow() as uow:
        appointment = _site_appointment(uow, appointment_id, hospital_id)
        return _view(uow, appointment)


def cancel(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    channel: Channel,
    appointment_id: str,
    idempotency_key: str,
    identification_id: str | None = None,
    staff_confirmed: bool = False,
) -> AppointmentView:
    """Cancel a booking, once per idempotency key: the patient (or their proxy) identified, or
    the HIS for its channels. Timely: the fee is refunded; before the start, the slot returns
    to the pool after a random delay; after the start it never does."""
    if identification_id is None and channel != "his":
        raise Forbidden(
            "identify the booked patient to cancel the booking", code="identification_required"
        )
    now = ctx.clock.now()
    with ctx.uow() as uow:
        if (done := uow.appointments.by_cancel_key(hospital_id, idempotency_key)) is not None:
            if done.id != appointment_id:
                raise Conflict(
                    "this idempotency key cancelled another booking", code="idempotency_conflict"
                )
            return replace(_view(uow, done), replayed=True)
        appointment = _site_appointment(uow, appointment_id, hospital_id)
        check_cancellable(appointment)
        presence = None
        if identification_id is not None:
            presence = attend(
                uow,
                identification_id=identification_id,
                hospital_id=hospital_id,
                patient_id=appointment.person_id,
                act="check_in",
                used_for=appointment.id,
                now=now,
                staff_confirmed=staff_confirmed,
                card_needs_staff=False,
            )
        schedule = site_schedule(uow, appointment.schedule_id, hospital_id)
        policy = site_policy(ctx, uow, hospital_id)
        outcome = cancel_outcome(policy, schedule, now)
        release_at = None
        if outcome.release:
            delay = _RANDOM.randint(policy.release_min_seconds, policy.release_max_seconds)
            release_at = now + timedelta(seconds=delay)
        bill, refund = None, None
        if appointment.bill_id is not None:
            bill = hospital_bill(uow, appointment.bill_id, hospital_id)
        refunding = bill is not None and bill.status == "paid" and outcome.timely
        cancelled = replace(
            appointment,
            status="cancelled",
            cancelled_at=now,
            cancel_key=idempotency_key,
            release_at=release_at,
            refunded=refunding,
        )
        # Saved before the refund: a booking's fee is refunded only once the booking is
        # cancelled (facepay.services.refunds refuses it while the booking is live).
        uow.appointments.save(cancelled)
        if bill is not None and bill.status == "open":
            bill = replace(bill, status="cancelled")
            uow.bills.save(bill)
        elif bill is not None and refunding:
            refund = refund_in_transaction(
                ctx,
                uow,
                hospital_id=bill.hospital_id,
                actor=actor,
                bill_id=bill.id,
                reversal_key=refund_key(appointment.id),
            )
            bill = refund.bill
        audit(
            ctx,
            uow,
            actor=actor,
            action="appointment.cancel",
            subject=appointment.id,
            details={
                **_event(cancelled, schedule, channel=channel, presence=presence),
                "timely": outcome.timely,
                "refunded_fen": refund.refunded_fen if refund else 0,
                "release_at": release_at.isoformat() if release_at else None,
            },
        )
        uow.commit()
    return AppointmentView(cancelled, schedule, bill, refund=refund, presence=presence)


def check_in(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    channel: Channel,
    appointment_id: str,
    identification_id: str,
    staff_confirmed: bool,
    may_pay: bool,
) -> AppointmentView:
    """Check the booked person in: the identification must be theirs (or their proxy's); a
    card needs a staff member's confirmation. An unpaid fee is paid now if the caller may take
    payments. The same identification again replays the check-in."""
    now = ctx.clock.now()
    try:
        with ctx.uow() as uow:
            appointment = _site_appointment(uow, appointment_id, hospital_id)
            if (
                appointment.status == "checked_in"
                and appointment.check_in_identification == identification_id
            ):
                return replace(_view(uow, appointment), replayed=True)
            schedule = site_schedule(uow, appointment.schedule_id, hospital_id)
            check_check_in(site_policy(ctx, uow, hospital_id), schedule, appointment, now)
            pays = _may_pay(uow, identification_id, hospital_id, appointment.person_id, now)
            presence = attend(
                uow,
                identification_id=identification_id,
                hospital_id=hospital_id,
                patient_id=appointment.person_id,
                act="check_in",
                used_for=appointment.id,
                now=now,
                staff_confirmed=staff_confirmed,
                card_needs_staff=True,
            )
            bill, receipt = None, None
            if appointment.bill_id is not None:
                bill = hospital_bill(uow, appointment.bill_id, hospital_id)
                if bill.status == "open":
                    if not may_pay:
                        raise Conflict(
                            "the registration fee is unpaid: pay it at a cashier or kiosk first",
                            code="fee_unpaid",
                        )
                    if not pays:
                        raise Forbidden(
                            "the proxy may not pay for this patient", code="proxy_act_not_granted"
                        )
                    person = registered_person(uow, appointment.person_id)
                    bill, receipt = _pay_fee(
                        ctx,
                        uow,
                        bill,
                        person,
                        presence,
                        appointment_id=appointment.id,
                        actor=actor,
                        now=now,
                    )
            done = replace(
                appointment,
                status="checked_in",
                checked_in_at=now,
                check_in_identification=identification_id,
            )
            uow.appointments.save(done)
            audit(
                ctx,
                uow,
                actor=actor,
                action="appointment.check_in",
                subject=appointment.id,
                details={
                    **_event(done, schedule, channel=channel, presence=presence),
                    "fee_paid_now": receipt is not None,
                },
            )
            uow.commit()
    except Forbidden as refusal:
        _audit_refused_check_in(
            ctx,
            hospital_id=hospital_id,
            actor=actor,
            appointment_id=appointment_id,
            identification_id=identification_id,
            refusal=refusal,
        )
        raise
    return AppointmentView(done, schedule, bill, receipt=receipt, presence=presence)


def _audit_refused_check_in(
    ctx: Services,
    *,
    hospital_id: str,
    actor: str,
    appointment_id: str,
    identification_id: str,
    refusal: Forbidden,
) -> None:
    """Record a refused check-in (a resold ticket, an expired proxy) for supervision."""
    with ctx.uow() as uow:
        appointment = uow.appointments.get(appointment_id, hospital_id)
    if appointment is not None:
        record_refusal(
            ctx,
            hospital_id=hospital_id,
            actor=actor,
            action="appointment.check_in_refused",
            subject=appointment_id,
            patient_id=appointment.person_id,
            identification_id=identification_id,
            refusal=refusal,
        )


def _event(
    appointment: Appointment, schedule: Schedule, *, channel: Channel, presence: Presence | None
) -> dict[str, object]:
    """What every booking event says: who, where, when, through which channel, which slot."""
    return {
        "hospital": appointment.hospital_id,
        "person": appointment.person_id,
        "schedule": schedule.id,
        "department": schedule.department,
        "doctor": schedule.doctor,
        "session_date": schedule.session_date.isoformat(),
        "session_start": schedule.starts_at.isoformat(),
        "channel": channel,
        "slot": appointment.slot,
        **(presence.audit_details() if presence else {}),
    }


def _may_pay(
    uow: UnitOfWork, identification_id: str, hospital_id: str, patient_id: str, now: datetime
) -> bool:
    """Whether whoever was identified may pay for the patient (the patient, or a proxy whose
    grant covers paying): a grant to check in does not spend the patient's money. Asked before
    `attend` consumes the identification; `attend` then gives the refusal that stops the step."""
    try:
        check_presence(
            uow,
            identification_id=identification_id,
            hospital_id=hospital_id,
            patient_id=patient_id,
            act="pay",
            now=now,
            staff_confirmed=True,
            card_needs_staff=False,
        )
    except (Forbidden, Conflict, NotFound):
        return False
    return True


def _identified_person(uow: UnitOfWork, identification_id: str, hospital_id: str) -> str:
    """Whom an identification identified (the patient when they book for themselves)."""
    record = uow.identifications.get(identification_id, hospital_id)
    if record is None:
        raise NotFound("no such identification")
    if record.decision != "match" or record.person_id is None:
        raise Forbidden("the identification matched nobody", code="not_the_patient")
    return record.person_id


def _insured(uow: UnitOfWork, id_number: str) -> InsuredPerson:
    person = uow.people.by_id_number(normalise_id_number(id_number))
    if person is None:
        raise NotFound("the ID number is not in the insurance registry", code="not_insured")
    return person


def _site_appointment(uow: UnitOfWork, appointment_id: str, hospital_id: str) -> Appointment:
    found = uow.appointments.get(appointment_id, hospital_id)
    if found is None:
        raise NotFound("no such appointment")
    return found


def _view(uow: UnitOfWork, appointment: Appointment) -> AppointmentView:
    schedule = site_schedule(uow, appointment.schedule_id, appointment.hospital_id)
    bill = (
        uow.bills.get(appointment.bill_id, appointment.hospital_id) if appointment.bill_id else None
    )
    return AppointmentView(appointment, schedule, bill)


def _replayed_booking(
    uow: UnitOfWork, done: Appointment, *, schedule_id: str, hospital_id: str
) -> AppointmentView:
    """The booking an idempotency key made, if it was for the same session."""
    if done.schedule_id != schedule_id:
        raise Conflict("this idempotency key booked another session", code="idempotency_conflict")
    return replace(_view(uow, done), replayed=True)


def _fee_bill(
    ctx: Services,
    uow: UnitOfWork,
    schedule: Schedule,
    person: InsuredPerson,
    appointment_id: str,
    *,
    actor: str,
    now: datetime,
) -> PostedBill | None:
    """The registration bill of a booking (None for a free session): outpatient, one line, the
    session's day as service date, at the hospital's tier."""
    fee = schedule.fee
    if fee.fee_fen == 0:
        return None
    bill = Bill(
        visit_type="outpatient",
        hospital_tier=schedule.hospital_tier,
        service_date=schedule.session_date,
        lines=(BillLine(fee.code, fee.name, fee.item_class, fee.fee_fen, Decimal(1)),),
    )
    ctx.policies.pick(service_date=bill.service_date, category=person.category)
    posted = PostedBill(
        id=new_id("bil"),
        hospital_id=schedule.hospital_id,
        person_id=person.id,
        external_ref=f"{FEE_REF_PREFIX}{appointment_id}",
        bill=bill,
        point_of_sale="hospital",
        status="open",
        created_at=now,
    )
    uow.bills.add(posted)
    audit(
        ctx,
        uow,
        actor=actor,
        action="bill.post",
        subject=posted.id,
        details={
            "hospital": schedule.hospital_id,
            "person": person.id,
            "total_fen": posted.total,
            "appointment": appointment_id,
        },
    )
    return posted


def _pay_fee(
    ctx: Services,
    uow: UnitOfWork,
    bill: PostedBill,
    person: InsuredPerson,
    presence: Presence,
    *,
    appointment_id: str,
    actor: str,
    now: datetime,
) -> tuple[PostedBill, Receipt]:
    """Settle the registration bill through the existing settlement, in the caller's unit of
    work, audited as any payment (`payment.settle`)."""
    policy = ctx.policies.pick(service_date=bill.bill.service_date, category=person.category)
    receipt = settle_in_transaction(
        uow,
        hospital_id=bill.hospital_id,
        bill=bill.bill,
        payer=Payer(person.id, person.category, person.medical_assistance),
        policy=policy,
        idempotency_key=fee_key(appointment_id),
        now=now,
    )
    paid = replace(bill, status="paid", settlement_id=receipt.record.id, paid_at=now)
    uow.bills.save(paid)
    s = receipt.record.settlement
    audit(
        ctx,
        uow,
        actor=actor,
        action="payment.settle",
        subject=bill.id,
        details={
            "hospital": bill.hospital_id,
            "person": person.id,
            "identification": presence.identification_id,
            "method": presence.method,
            "settlement": receipt.record.id,
            "total_fen": s.medfee_sumamt,
            "fund_fen": s.fund_pay_sumamt,
            "account_fen": s.acct_pay,
            "cash_fen": s.psn_cash_pay,
        },
    )
    return paid, receipt
