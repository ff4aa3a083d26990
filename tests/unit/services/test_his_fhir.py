"""The FHIR facade's use cases on the in-memory services: an idempotent HIS push, searches paged
both ways inside one site, and rest-hook delivery (cursor, at-least-once, backoff, error status,
lease, tenancy, allowed hosts)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facepay.hospital.appointments import Appointment, FeeLine, Schedule
from facepay.hospital.his_subscriptions import HisSubscription
from facepay.services import his_bills, his_notifications, his_records
from facepay.services.bills import pay_bill
from facepay.services.his_events import HisEvent
from facepay.services.identification import identify_by_credentials
from facepay.services.repositories import RecordQuery
from facepay.shared.errors import Conflict, InvalidInput, NotFound

HOOK = "http://127.0.0.1:9/hook"


def _tick(world: Any, seconds: float) -> None:
    world.clock.set(world.clock.now() + timedelta(seconds=seconds))


def _push(world: Any, kit: ModuleType, ref: str, fen: int = 12_000, site: str = "h1") -> Any:
    return his_bills.push_bill(
        ctx=world.ctx,
        hospital_id=site,
        actor="terminal:his",
        external_ref=ref,
        bill=kit.outpatient_bill(fen),
        id_number=kit.person_number(10),
    )


def _pay(world: Any, kit: ModuleType, bill_id: str, site: str = "h1") -> None:
    card = identify_by_credentials(
        ctx=world.ctx,
        hospital_id=site,
        actor="kiosk",
        id_number=kit.person_number(10),
        insurance_card_number="CARD0010",
    )
    pay_bill(
        ctx=world.ctx,
        hospital_id=site,
        actor="kiosk",
        bill_id=bill_id,
        identification_id=card.identification_id,
        idempotency_key=f"pay-{bill_id}",
    )


def test_a_push_is_idempotent_on_the_identifier_and_other_content_conflicts(
    world: Any, kit: ModuleType
) -> None:
    first = _push(world, kit, "INV-1")
    again = _push(world, kit, "INV-1")
    assert first.created
    assert not again.created
    assert again.bill.id == first.bill.id
    with pytest.raises(Conflict) as clash:
        _push(world, kit, "INV-1", fen=13_000)
    assert clash.value.code == "his_bill_differs"
    # The same identifier at another site is another site's bill.
    assert _push(world, kit, "INV-1", site="h2").created
    # By patient id: only a patient of the site.
    by_id = his_bills.push_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="terminal:his",
        external_ref="INV-1",
        bill=kit.outpatient_bill(12_000),
        person_id=first.bill.person_id,
    )
    assert by_id.bill.id == first.bill.id
    bob = world.people["Bob"]
    with pytest.raises(NotFound):
        his_bills.push_bill(
            ctx=world.ctx,
            hospital_id="h1",
            actor="terminal:his",
            external_ref="INV-2",
            bill=kit.outpatient_bill(12_000),
            person_id=bob,
        )


def test_searches_page_forward_and_back_inside_one_site(world: Any, kit: ModuleType) -> None:
    bills = []
    for n in range(5):
        _tick(world, 1)
        bills.append(_push(world, kit, f"INV-{n}").bill)
    _push(world, kit, "INV-X", site="h2")
    _pay(world, kit, bills[1].id)
    first = his_records.bills(ctx=world.ctx, query=RecordQuery("h1", limit=2))
    assert [b.id for b in first] == [b.id for b in bills[:2]]
    key = (first[-1].created_at, first[-1].id)
    second = his_records.bills(ctx=world.ctx, query=RecordQuery("h1", after=key, limit=2))
    assert [b.id for b in second] == [b.id for b in bills[2:4]]
    back = (second[0].created_at, second[0].id)
    previous = his_records.bills(ctx=world.ctx, query=RecordQuery("h1", before=back, limit=2))
    assert previous == first
    paid = his_records.bills(
        ctx=world.ctx, query=RecordQuery("h1", statuses=frozenset({"paid"}), limit=10)
    )
    assert [b.id for b in paid] == [bills[1].id]
    window = RecordQuery("h1", since=bills[1].created_at, until=bills[3].created_at, limit=10)
    assert [b.id for b in his_records.bills(ctx=world.ctx, query=window)] == [
        bills[1].id,
        bills[2].id,
    ]
    settled = his_records.settlements(ctx=world.ctx, query=RecordQuery("h1", limit=10))
    assert [s.id for s in settled] == [paid[0].settlement_id]
    assert his_records.settlements(ctx=world.ctx, query=RecordQuery("h2", limit=10)) == []


@dataclass
class FakeHook:
    """A notifier that records what it was asked to post and answers `statuses` in turn."""

    statuses: list[int] = field(default_factory=list)
    posted: list[tuple[str, dict[str, str], str]] = field(default_factory=list)

    def render(self, ctx: Any, subscription: HisSubscription, event: HisEvent) -> bytes:
        return f'{{"event": "{event.id}", "bill": "{event.bill_id}"}}'.encode()

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.posted.append((url, headers, body.decode()))
        if not self.statuses:
            return 204
        status = self.statuses.pop(0)
        if status == 0:
            raise his_notifications.DeliveryFailed("connection refused")
        return status


def _subscribe(world: Any, criteria: str = "PaymentNotice?", site: str = "h1") -> Any:
    return his_notifications.create_subscription(
        ctx=world.ctx,
        hospital_id=site,
        actor="terminal:his",
        criteria=criteria,
        endpoint=HOOK,
        reason="billing",
    )


@pytest.fixture
def signed(world: Any) -> Any:
    """The world with a server signing key."""
    key = Ed25519PrivateKey.generate()
    world.ctx = replace(world.ctx, offline_key=lambda: key)
    return world


def test_delivery_sends_each_matching_event_once_signed_and_moves_the_cursor(
    signed: Any, kit: ModuleType
) -> None:
    world = signed
    sub = _subscribe(world, "Invoice?status=balanced")
    _subscribe(world, site="h2")
    bills = [_push(world, kit, f"INV-{n}").bill for n in range(2)]
    for bill in bills:
        _pay(world, kit, bill.id)
    hook = FakeHook()
    done = his_notifications.deliver_round(ctx=world.ctx, notifier=hook, owner="w1")
    assert done.sent == 2
    assert [body for _, _, body in hook.posted] == [
        f'{{"event": "h1:{e}", "bill": "{b.id}"}}'
        for e, b in zip(_event_seqs(world, "h1"), bills, strict=True)
    ]
    headers = hook.posted[0][1]
    assert headers["X-Facepay-Terminal"] == "facepay-server"
    assert headers[his_notifications.HEADER_SUBSCRIPTION] == sub.id
    # Nothing new: the next round sends nothing; a new payment is sent alone.
    assert his_notifications.deliver_round(ctx=world.ctx, notifier=hook, owner="w1").sent == 0
    third = _push(world, kit, "INV-3").bill
    _pay(world, kit, third.id)
    his_notifications.deliver_round(ctx=world.ctx, notifier=hook, owner="w1")
    assert len(hook.posted) == 3
    assert third.id in hook.posted[-1][2]


def _event_seqs(world: Any, site: str) -> list[int]:
    with world.ctx.uow() as uow:
        return [e.seq for e in uow.audit.iterate(chain=site) if e.action == "payment.settle"]


def test_a_failure_backs_off_keeps_the_event_and_turns_error_after_the_limit(
    signed: Any, kit: ModuleType
) -> None:
    world = signed
    world.ctx = replace(
        world.ctx,
        settings=world.ctx.settings.model_copy(update={"fhir_subscription_max_failures": 3}),
    )
    sub = _subscribe(world)
    bill = _push(world, kit, "INV-1").bill
    _pay(world, kit, bill.id)
    hook = FakeHook(statuses=[500, 0])
    assert his_notifications.deliver_round(ctx=world.ctx, notifier=hook, owner="w1").failed == 1
    stored = his_notifications.get_subscription(
        ctx=world.ctx, hospital_id="h1", subscription_id=sub.id
    )
    assert stored.failures == 1
    assert "HTTP 500" in (stored.last_error or "")
    assert stored.next_attempt_at == world.clock.now() + timedelta(seconds=2)
    # Not due yet: nothing is tried.
    assert his_notifications.deliver_round(ctx=world.ctx, notifier=hook, owner="w1").failed == 0
    _tick(world, 2)
    his_notifications.deliver_round(ctx=world.ctx, notifier=hook, owner="w1")  # refused
    _tick(world, 4)
    hook.statuses = [503]
    his_notifications.deliver_round(ctx=world.ctx, notifier=hook, owner="w1")
    stored = his_notifications.get_subscription(
        ctx=world.ctx, hospital_id="h1", subscription_id=sub.id
    )
    assert stored.status == "error"
    assert stored.cursor == sub.cursor  # the event is still owed
    assert len({body for _, _, body in hook.posted}) == 1  # always the same event


def test_a_leased_subscription_is_delivered_by_one_worker_only(
    signed: Any, kit: ModuleType
) -> None:
    world = signed
    sub = _subscribe(world)
    with world.ctx.uow() as uow:
        now = world.ctx.clock.now()
        assert uow.subscriptions.lease(sub.id, owner="w1", now=now, until=now + timedelta(60))
        uow.commit()
    bill = _push(world, kit, "INV-1").bill
    _pay(world, kit, bill.id)
    hook = FakeHook()
    assert his_notifications.deliver_round(ctx=world.ctx, notifier=hook, owner="w2").sent == 0
    with world.ctx.uow() as uow:
        lost = uow.subscriptions.record(
            sub.id,
            owner="w2",
            cursor=99,
            status="active",
            failures=0,
            next_attempt_at=None,
            last_error=None,
            release=True,
        )
    assert not lost


def test_criteria_endpoints_and_the_site_limit_are_checked(signed: Any) -> None:
    world = signed
    with pytest.raises(InvalidInput) as bad:
        _subscribe(world, "Patient?")
    assert bad.value.code == "fhir_unsupported_criteria"
    for endpoint in (
        "http://10.0.0.8/hook",
        "http://169.254.169.254/",
        "file:///etc/passwd",
        "http://user:pw@127.0.0.1/",
        "http://127.0.0.1/hook#x",
    ):
        with pytest.raises(InvalidInput):
            his_notifications.create_subscription(
                ctx=world.ctx,
                hospital_id="h1",
                actor="a",
                criteria="PaymentNotice?",
                endpoint=endpoint,
                reason="r",
            )
    world.ctx = replace(
        world.ctx, settings=world.ctx.settings.model_copy(update={"fhir_subscriptions_per_site": 1})
    )
    first = _subscribe(world)
    with pytest.raises(Conflict):
        _subscribe(world)
    his_notifications.turn_off(ctx=world.ctx, hospital_id="h1", actor="a", subscription_id=first.id)
    _subscribe(world)
    with pytest.raises(NotFound):
        his_notifications.get_subscription(
            ctx=world.ctx, hospital_id="h2", subscription_id=first.id
        )


def test_the_operator_lists_the_hosts_subscriptions_may_post_to(signed: Any) -> None:
    world = signed
    hosts = {"fhir_subscription_allowed_hosts": "his.example.local, 10.1.2.3"}
    world.ctx = replace(world.ctx, settings=world.ctx.settings.model_copy(update=hosts))
    for endpoint in ("https://HIS.example.local:8443/fhir-hook", "http://10.1.2.3/h"):
        made = his_notifications.create_subscription(
            ctx=world.ctx,
            hospital_id="h1",
            actor="a",
            criteria="Invoice?",
            endpoint=endpoint,
            reason="r",
        )
        assert made.endpoint == endpoint
    with pytest.raises(InvalidInput) as refused:
        _subscribe(world)  # loopback is no longer on the list
    assert refused.value.code == "fhir_endpoint_not_allowed"


def test_a_booking_and_its_slot_are_read_inside_their_site(world: Any) -> None:
    now = world.clock.now()
    session = Schedule(
        id="sch_" + "8" * 32, hospital_id="h1", department="呼吸内科", doctor="stf_1",
        doctor_name="李医生", session_date=now.date(), period="am", start_time=time(8),
        end_time=time(12), starts_at=now, ends_at=now + timedelta(hours=4), capacity=3,
        fee=FeeLine("REG-1", "挂号", "A", 1_000), hospital_tier=2, created_at=now,
    )  # fmt: skip
    booking = Appointment(
        id="apt_" + "9" * 32, hospital_id="h1", schedule_id=session.id,
        person_id=world.people["Alice"], slot=2, channel="his", status="booked",
        idempotency_key="k", booked_at=now, booked_by="terminal:his",
    )  # fmt: skip
    with world.ctx.uow() as uow:
        uow.appointments.add_schedule(session)
        uow.appointments.add(booking)
        uow.commit()
    found, of = his_records.appointment(ctx=world.ctx, hospital_id="h1", appointment_id=booking.id)
    assert (found.id, of.id) == (booking.id, session.id)
    held = [
        his_records.slot(ctx=world.ctx, hospital_id="h1", schedule_id=session.id, number=n)[1]
        for n in (1, 2, 3)
    ]
    assert held == [False, True, False]
    for site, number in (("h2", 2), ("h1", 4)):
        with pytest.raises(NotFound):
            his_records.slot(ctx=world.ctx, hospital_id=site, schedule_id=session.id, number=number)
    with pytest.raises(NotFound):
        his_records.appointment(ctx=world.ctx, hospital_id="h2", appointment_id=booking.id)


def test_a_round_that_breaks_off_gives_its_lease_back(signed: Any, kit: ModuleType) -> None:
    world = signed
    sub = _subscribe(world)
    bill = _push(world, kit, "INV-1").bill
    _pay(world, kit, bill.id)

    class Broken(FakeHook):
        def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
            raise RuntimeError("storage went away")

    with pytest.raises(RuntimeError):
        his_notifications.deliver_round(ctx=world.ctx, notifier=Broken(), owner="w1")
    again = FakeHook()
    assert his_notifications.deliver_round(ctx=world.ctx, notifier=again, owner="w2").sent == 1
    stored = his_notifications.get_subscription(
        ctx=world.ctx, hospital_id="h1", subscription_id=sub.id
    )
    assert stored.lease_owner is None
    assert stored.cursor > sub.cursor
