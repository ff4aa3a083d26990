"""Appointments on the in-memory unit of work: sessions, limits, slots, fees, cancels, check-ins."""

from __future__ import annotations

from datetime import date, time, timedelta
from types import ModuleType
from typing import Any

import pytest

from facepay.hospital.appointments import BookingPolicy, FeeLine
from facepay.services import appointments as svc
from facepay.services import schedules
from facepay.services.identification import identify_by_credentials
from facepay.shared.errors import Conflict, Forbidden, InvalidInput, NotFound

DAY = date(2026, 5, 6)  # a Wednesday; the clock stands at 2026-05-04 17:00 local
FEE = FeeLine("REG-EXP", "Expert registration", "A", 5_000)


def open_session(world: Any, *, department: str = "CARD", doctor: str = "D1", **kw: Any) -> Any:
    values: dict[str, Any] = {
        "session_date": DAY,
        "period": "am",
        "capacity": 2,
        "fee": FEE,
        "hospital_tier": 2,
    }
    values.update(kw)
    return schedules.open_schedule(
        ctx=world.ctx,
        hospital_id=values.pop("hospital_id", "h1"),
        actor="staff:admin",
        department=department,
        doctor=doctor,
        doctor_name="Dr Li",
        **values,
    )


def card(world: Any, kit: ModuleType, seed: int, hospital: str = "h1") -> str:
    return identify_by_credentials(
        ctx=world.ctx,
        hospital_id=hospital,
        actor="terminal:kiosk",
        id_number=kit.person_number(seed),
        insurance_card_number=f"CARD{seed:04d}",
    ).identification_id


def book(world: Any, kit: ModuleType, schedule: Any, seed: int = 10, **kw: Any) -> Any:
    values: dict[str, Any] = {
        "ctx": world.ctx,
        "hospital_id": "h1",
        "actor": "terminal:kiosk",
        "channel": "kiosk",
        "schedule_id": schedule.id,
        "idempotency_key": f"h1:book-{seed}-{schedule.id}",
    }
    values.update(kw)
    if "id_number" not in values and "identification_id" not in values:
        values["identification_id"] = card(world, kit, seed, values["hospital_id"])
    return svc.book(**values)


def audit_of(world: Any, action: str) -> list[dict[str, Any]]:
    return [e.details for e in world.store.audit.entries if e.action == action]


def test_booking_by_card_pays_the_fee_and_replays(world: Any, kit: ModuleType) -> None:
    session = open_session(world)
    assert (session.starts_at.hour, session.start_time) == (0, time(8, 0))  # 08:00 = 00:00 UTC
    view = book(world, kit, session)
    a = view.appointment
    assert (a.slot, a.status, a.channel, a.person_id) == (
        1,
        "booked",
        "kiosk",
        world.people["Alice"],
    )
    assert view.bill is not None
    assert view.bill.status == "paid"
    assert view.bill.total == 5_000
    assert view.bill.bill.visit_type == "outpatient"
    assert view.receipt is not None
    split = view.receipt.record.settlement
    assert split.medfee_sumamt == 5_000
    assert split.fund_pay_sumamt + split.acct_pay + split.psn_cash_pay == 5_000
    identification = world.store.identifications.rows[view.presence.identification_id]
    assert identification.used_for == a.id
    (event,) = audit_of(world, "appointment.book")
    assert event["person"] == a.person_id
    assert event["department"] == "CARD"
    assert (event["session_date"], event["channel"], event["slot"]) == ("2026-05-06", "kiosk", 1)
    assert event["method"] == "credentials"

    again = svc.book(
        ctx=world.ctx,
        hospital_id="h1",
        actor="terminal:kiosk",
        channel="kiosk",
        schedule_id=session.id,
        idempotency_key=a.idempotency_key,
        identification_id=view.presence.identification_id,
    )
    assert again.replayed
    assert again.appointment == a
    other = open_session(world, doctor="D2")
    with pytest.raises(Conflict) as clash:
        book(world, kit, other, idempotency_key=a.idempotency_key)
    assert clash.value.code == "idempotency_conflict"
    assert (
        schedules.get_schedule(ctx=world.ctx, hospital_id="h1", schedule_id=session.id).available
        == 1
    )


def test_limits_per_department_day_and_week(world: Any, kit: ModuleType) -> None:
    first = open_session(world)
    book(world, kit, first)
    with pytest.raises(Conflict) as same:
        book(world, kit, first, idempotency_key="h1:again")
    assert same.value.code == "already_booked"
    with pytest.raises(Conflict) as day:
        book(world, kit, open_session(world, doctor="D2"))
    assert day.value.code == "booking_limit_day"
    book(world, kit, open_session(world, department="DERM"))
    book(world, kit, open_session(world, department="ENT", session_date=DAY + timedelta(days=1)))
    with pytest.raises(Conflict) as week:
        book(world, kit, open_session(world, department="EYE", session_date=DAY + timedelta(2)))
    assert week.value.code == "booking_limit_week"
    # The next week is another week; a site's own policy can loosen the limits.
    book(world, kit, open_session(world, department="EYE", session_date=DAY + timedelta(days=5)))
    schedules.set_policy(
        ctx=world.ctx, hospital_id="h1", actor="staff:admin", policy=BookingPolicy(per_week=5)
    )
    book(
        world,
        kit,
        open_session(world, department="EYE", doctor="D2", session_date=DAY + timedelta(2)),
    )
    with pytest.raises(InvalidInput) as bad:
        BookingPolicy(per_department_day=4, per_week=3)
    assert bad.value.code == "bad_policy"


def test_last_slot_goes_once_and_a_cancelled_slot_returns_only_later(
    world: Any, kit: ModuleType
) -> None:
    session = open_session(world, capacity=1)
    alice = book(world, kit, session).appointment
    with pytest.raises(Conflict) as full:
        book(world, kit, session, seed=20)
    assert full.value.code == "session_full"

    cancelled = svc.cancel(
        ctx=world.ctx,
        hospital_id="h1",
        actor="terminal:kiosk",
        channel="kiosk",
        appointment_id=alice.id,
        idempotency_key="h1:cancel-1",
        identification_id=card(world, kit, 10),
    )
    now = world.clock.now()
    a = cancelled.appointment
    assert a.status == "cancelled"
    assert a.refunded
    assert now + timedelta(seconds=300) <= a.release_at <= now + timedelta(seconds=1_800)
    assert cancelled.bill.status == "refunded"
    assert cancelled.refund.refunded_fen == 5_000
    (event,) = audit_of(world, "appointment.cancel")
    assert event["timely"]
    assert event["refunded_fen"] == 5_000
    assert event["release_at"] == a.release_at.isoformat()
    # The slot is still held until the random moment has passed.
    with pytest.raises(Conflict):
        book(world, kit, session, seed=20, idempotency_key="h1:bob-early")
    world.clock.set(a.release_at)
    bob = book(world, kit, session, seed=20, idempotency_key="h1:bob-late").appointment
    assert bob.slot == 1
    replay = svc.cancel(
        ctx=world.ctx,
        hospital_id="h1",
        actor="terminal:kiosk",
        channel="kiosk",
        appointment_id=alice.id,
        idempotency_key="h1:cancel-1",
        identification_id="idn-anything",
    )
    assert replay.replayed
    assert replay.appointment == a


def test_release_delay_is_drawn_from_the_window(world: Any, kit: ModuleType) -> None:
    schedules.set_policy(
        ctx=world.ctx,
        hospital_id="h1",
        actor="staff:admin",
        policy=BookingPolicy(release_min_seconds=600, release_max_seconds=3_600),
    )
    delays = set()
    for n in range(6):
        session = open_session(world, doctor=f"R{n}", session_date=DAY + timedelta(days=7 * n))
        booked = book(world, kit, session).appointment
        done = svc.cancel(
            ctx=world.ctx,
            hospital_id="h1",
            actor="staff:cashier",
            channel="desk",
            appointment_id=booked.id,
            idempotency_key=f"h1:c{n}",
            identification_id=card(world, kit, 10),
            staff_confirmed=True,
        )
        delay = (done.appointment.release_at - world.clock.now()).total_seconds()
        assert 600 <= delay <= 3_600
        delays.add(delay)
    assert len(delays) > 1  # random, not a fixed delay a scalper could time


def test_cancel_after_the_start_keeps_the_slot_out_and_refunds_nothing(
    world: Any, kit: ModuleType
) -> None:
    session = open_session(world, capacity=1)
    alice = book(world, kit, session).appointment
    world.clock.set(session.starts_at + timedelta(minutes=5))
    done = svc.cancel(
        ctx=world.ctx,
        hospital_id="h1",
        actor="staff:cashier",
        channel="desk",
        appointment_id=alice.id,
        idempotency_key="h1:late",
        identification_id=card(world, kit, 10),
        staff_confirmed=True,
    )
    assert done.appointment.release_at is None
    assert not done.appointment.refunded
    assert done.refund is None
    assert done.bill.status == "paid"
    world.clock.set(session.starts_at + timedelta(days=30))
    view = schedules.get_schedule(ctx=world.ctx, hospital_id="h1", schedule_id=session.id)
    assert view.available == 0


def test_late_cancel_before_the_start_releases_without_refund(world: Any, kit: ModuleType) -> None:
    schedules.set_policy(
        ctx=world.ctx,
        hospital_id="h1",
        actor="staff:admin",
        policy=BookingPolicy(cancel_cutoff_minutes=24 * 60),
    )
    session = open_session(world)
    alice = book(world, kit, session).appointment
    world.clock.set(session.starts_at - timedelta(hours=2))
    done = svc.cancel(
        ctx=world.ctx,
        hospital_id="h1",
        actor="his",
        channel="his",
        appointment_id=alice.id,
        idempotency_key="h1:his-cancel",
    )
    assert done.refund is None
    assert done.appointment.release_at is not None
    with pytest.raises(Conflict) as twice:
        svc.cancel(
            ctx=world.ctx,
            hospital_id="h1",
            actor="his",
            channel="his",
            appointment_id=alice.id,
            idempotency_key="h1:his-cancel-2",
        )
    assert twice.value.code == "appointment_cancelled"


def test_check_in_needs_the_booked_person(world: Any, kit: ModuleType) -> None:
    session = open_session(world)
    alice = book(world, kit, session).appointment
    world.clock.set(session.starts_at - timedelta(minutes=30))

    def check_in(identification_id: str, **kw: Any) -> Any:
        values: dict[str, Any] = {
            "ctx": world.ctx,
            "hospital_id": "h1",
            "actor": "terminal:kiosk",
            "channel": "kiosk",
            "appointment_id": alice.id,
            "identification_id": identification_id,
            "staff_confirmed": False,
            "may_pay": True,
        }
        return svc.check_in(**(values | kw))

    with pytest.raises(Forbidden) as resold:
        check_in(card(world, kit, 20), staff_confirmed=True)  # the buyer of a resold booking
    assert resold.value.code == "not_the_patient"
    (refused,) = audit_of(world, "appointment.check_in_refused")
    assert refused["code"] == "not_the_patient"
    assert refused["patient"] == alice.person_id
    with pytest.raises(Forbidden) as unconfirmed:
        check_in(card(world, kit, 10))
    assert unconfirmed.value.code == "staff_confirmation_required"
    ident = card(world, kit, 10)
    done = check_in(ident, actor="staff:nurse", channel="desk", staff_confirmed=True)
    assert done.appointment.status == "checked_in"
    assert check_in(ident).replayed
    with pytest.raises(Conflict) as again:
        check_in(card(world, kit, 10), staff_confirmed=True)
    assert again.value.code == "appointment_checked_in"
    (event,) = audit_of(world, "appointment.check_in")
    assert event["present"] == alice.person_id
    assert event["slot"] == 1
    with pytest.raises(Conflict) as used:
        svc.cancel(
            ctx=world.ctx,
            hospital_id="h1",
            actor="his",
            channel="his",
            appointment_id=alice.id,
            idempotency_key="h1:x",
        )
    assert used.value.code == "appointment_checked_in"


def test_check_in_window(world: Any, kit: ModuleType) -> None:
    session = open_session(world)
    alice = book(world, kit, session).appointment
    for moment, code in (
        (session.starts_at - timedelta(hours=3), "check_in_not_open"),
        (session.ends_at, "session_ended"),
    ):
        world.clock.set(moment)
        with pytest.raises(Conflict) as refused:
            svc.check_in(
                ctx=world.ctx,
                hospital_id="h1",
                actor="staff:nurse",
                channel="desk",
                appointment_id=alice.id,
                identification_id=card(world, kit, 10),
                staff_confirmed=True,
                may_pay=False,
            )
        assert refused.value.code == code


def test_his_booking_leaves_the_fee_open_until_check_in(world: Any, kit: ModuleType) -> None:
    session = open_session(world)
    his = book(
        world,
        kit,
        session,
        actor="terminal:his",
        channel="his",
        id_number=kit.person_number(10),
    )
    assert his.bill.status == "open"
    assert his.receipt is None
    assert his.presence is None
    (event,) = audit_of(world, "appointment.book")
    assert event["channel"] == "his"
    assert not event["fee_paid"]
    world.clock.set(session.starts_at)
    args: dict[str, Any] = {
        "ctx": world.ctx,
        "hospital_id": "h1",
        "actor": "staff:nurse",
        "channel": "desk",
        "appointment_id": his.appointment.id,
        "staff_confirmed": True,
    }
    with pytest.raises(Conflict) as unpaid:
        svc.check_in(**args, identification_id=card(world, kit, 10), may_pay=False)
    assert unpaid.value.code == "fee_unpaid"
    paid = svc.check_in(**args, identification_id=card(world, kit, 10), may_pay=True)
    assert paid.bill.status == "paid"
    assert paid.receipt.record.idempotency_key == svc.fee_key(his.appointment.id)


def test_cancelling_an_unpaid_his_booking_cancels_its_bill(world: Any, kit: ModuleType) -> None:
    session = open_session(world)
    his = book(world, kit, session, channel="his", id_number=kit.person_number(20))
    done = svc.cancel(
        ctx=world.ctx,
        hospital_id="h1",
        actor="terminal:his",
        channel="his",
        appointment_id=his.appointment.id,
        idempotency_key="h1:his-c",
    )
    assert done.bill.status == "cancelled"
    assert done.refund is None


def test_refusals_of_identity_channel_and_site(world: Any, kit: ModuleType) -> None:
    session = open_session(world)
    with pytest.raises(Forbidden) as not_his:
        book(world, kit, session, id_number=kit.person_number(10))
    assert not_his.value.code == "his_channel_only"
    with pytest.raises(InvalidInput) as neither:
        svc.book(
            ctx=world.ctx,
            hospital_id="h1",
            actor="k",
            channel="kiosk",
            schedule_id=session.id,
            idempotency_key="h1:n",
        )
    assert neither.value.code == "booking_identity"
    with pytest.raises(Forbidden) as not_patient:
        book(world, kit, session, patient_id=world.people["Bob"])  # Alice's card, Bob's name
    assert not_patient.value.code == "not_the_patient"
    # Another site's session and booking are not found from here.
    with pytest.raises(NotFound):
        book(world, kit, session, hospital_id="h2", idempotency_key="h2:x")
    alice = book(world, kit, session).appointment
    with pytest.raises(NotFound):
        svc.get_appointment(ctx=world.ctx, hospital_id="h2", appointment_id=alice.id)
    with pytest.raises(Forbidden) as anonymous:
        svc.cancel(
            ctx=world.ctx,
            hospital_id="h1",
            actor="k",
            channel="kiosk",
            appointment_id=alice.id,
            idempotency_key="h1:anon",
        )
    assert anonymous.value.code == "identification_required"
    world.clock.set(session.starts_at)
    with pytest.raises(Conflict) as started:
        book(world, kit, session, seed=20)
    assert started.value.code == "session_started"


def test_schedule_refusals(world: Any) -> None:
    open_session(world)
    with pytest.raises(Conflict) as twice:
        open_session(world)
    assert twice.value.code == "duplicate_schedule"
    for kw in (
        {"hospital_tier": None},
        {"period": "custom"},
        {"session_date": date(2026, 5, 1)},
        {"start_time": time(9, 0)},
        {"capacity": 0},
    ):
        with pytest.raises(InvalidInput) as bad:
            open_session(world, doctor="D9", **kw)
        assert bad.value.code == "bad_schedule", kw
    custom = open_session(
        world, doctor="D9", period="custom", start_time=time(18, 0), end_time=time(20, 0)
    )
    listed = schedules.list_schedules(ctx=world.ctx, hospital_id="h1", session_date=DAY)
    assert [v.schedule.id for v in listed][-1] == custom.id
    assert schedules.list_schedules(ctx=world.ctx, hospital_id="h2", session_date=DAY) == []


def test_free_session_makes_no_bill(world: Any, kit: ModuleType) -> None:
    session = open_session(world, fee=FeeLine("REG", "Registration", "A", 0))
    view = book(world, kit, session)
    assert view.bill is None
    assert view.appointment.bill_id is None


def test_a_carer_books_for_the_patient_and_an_expired_grant_cannot_check_in(
    world: Any, kit: ModuleType
) -> None:
    from facepay.services.proxies import register_proxy  # noqa: PLC0415 - this test only

    grant = register_proxy(
        ctx=world.ctx,
        hospital_id="h1",
        actor="staff:desk",
        proxy_identification_id=card(world, kit, 20),
        patient_id=world.people["Alice"],
        patient_identification_id=card(world, kit, 10),
        relation="carer",
        basis="patient_consent",
        acts=["check_in"],
        valid_until=world.clock.now() + timedelta(days=1, hours=12),
    )
    session = open_session(world)
    view = book(world, kit, session, seed=20, patient_id=world.people["Alice"])
    assert view.appointment.person_id == world.people["Alice"]
    assert view.appointment.proxy_grant_id == grant.id
    (event,) = audit_of(world, "appointment.book")
    assert (event["patient"], event["present"]) == (world.people["Alice"], world.people["Bob"])
    assert event["proxy_grant"] == grant.id
    world.clock.set(session.starts_at)  # the grant ran out at noon the day before
    with pytest.raises(Forbidden) as expired:
        svc.check_in(
            ctx=world.ctx,
            hospital_id="h1",
            actor="staff:nurse",
            channel="desk",
            appointment_id=view.appointment.id,
            identification_id=card(world, kit, 20),
            staff_confirmed=True,
            may_pay=False,
        )
    assert expired.value.code == "proxy_expired"


def test_a_carer_who_may_not_pay_books_but_does_not_spend_the_patients_money(
    world: Any, kit: ModuleType
) -> None:
    """A grant to check in is no grant to pay: the fee stays open (the patient's personal
    account untouched) and the carer cannot pay it at check-in either."""
    from facepay.services.proxies import register_proxy  # noqa: PLC0415 - this test only

    register_proxy(
        ctx=world.ctx,
        hospital_id="h1",
        actor="staff:desk",
        proxy_identification_id=card(world, kit, 20),
        patient_id=world.people["Alice"],
        patient_identification_id=card(world, kit, 10),
        relation="carer",
        basis="patient_consent",
        acts=["check_in"],
        valid_until=world.clock.now() + timedelta(days=30),
    )
    session = open_session(world)
    view = book(world, kit, session, seed=20, patient_id=world.people["Alice"])
    assert view.receipt is None
    assert view.bill is not None
    assert view.bill.status == "open"
    assert not audit_of(world, "payment.settle")
    (event,) = audit_of(world, "appointment.book")
    assert event["fee_paid"] is False
    world.clock.set(session.starts_at)
    with pytest.raises(Forbidden) as refused:
        svc.check_in(
            ctx=world.ctx,
            hospital_id="h1",
            actor="terminal:kiosk",
            channel="kiosk",
            appointment_id=view.appointment.id,
            identification_id=card(world, kit, 20),
            staff_confirmed=True,
            may_pay=True,
        )
    assert refused.value.code == "proxy_act_not_granted"
    assert not audit_of(world, "payment.settle")
    # The patient herself pays it at check-in.
    done = svc.check_in(
        ctx=world.ctx,
        hospital_id="h1",
        actor="terminal:kiosk",
        channel="kiosk",
        appointment_id=view.appointment.id,
        identification_id=card(world, kit, 10),
        staff_confirmed=True,
        may_pay=True,
    )
    assert done.receipt is not None
    assert done.bill is not None
    assert done.bill.status == "paid"


def test_a_carer_who_may_pay_pays_the_fee_at_booking(world: Any, kit: ModuleType) -> None:
    from facepay.services.proxies import register_proxy  # noqa: PLC0415 - this test only

    register_proxy(
        ctx=world.ctx,
        hospital_id="h1",
        actor="staff:desk",
        proxy_identification_id=card(world, kit, 20),
        patient_id=world.people["Alice"],
        patient_identification_id=card(world, kit, 10),
        relation="carer",
        basis="patient_consent",
        acts=["check_in", "pay"],
        valid_until=world.clock.now() + timedelta(days=30),
    )
    view = book(world, kit, open_session(world), seed=20, patient_id=world.people["Alice"])
    assert view.receipt is not None
    assert view.bill is not None
    assert view.bill.status == "paid"


def test_a_live_bookings_fee_is_refunded_only_by_cancelling_it(world: Any, kit: ModuleType) -> None:
    """Found in review: a cashier's refund of the fee bill left the booking live, and its
    check-in then went ahead for free with the slot still taken."""
    from facepay.services.refunds import refund_bill  # noqa: PLC0415

    session = open_session(world, capacity=1)
    booked = book(world, kit, session).appointment
    assert booked.bill_id is not None
    with pytest.raises(Conflict) as refused:
        refund_bill(
            ctx=world.ctx,
            hospital_id="h1",
            actor="staff:cashier",
            bill_id=booked.bill_id,
            reversal_key="h1:fee-back",
        )
    assert refused.value.code == "cancel_the_booking"
    done = svc.cancel(
        ctx=world.ctx,
        hospital_id="h1",
        actor="staff:cashier",
        channel="desk",
        appointment_id=booked.id,
        idempotency_key="h1:cancel",
        identification_id=card(world, kit, 10),
        staff_confirmed=True,
    )
    assert done.appointment.refunded
    assert done.bill.status == "refunded"
