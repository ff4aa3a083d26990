"""MedicationRequest / MedicationDispense reads on the in-memory services: drug lines of the
site's dispensing orders, paged forward by line across orders, filtered by line status, inside
one site only; and their resources validate with the R4B models."""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

from facepay.adapters.fhir import medication
from facepay.hospital.appointments import Appointment, FeeLine, Schedule
from facepay.hospital.orders import DispensingLine, DispensingOrder
from facepay.services import his_bills, his_records
from facepay.services.repositories import RecordQuery
from facepay.shared.errors import NotFound


def _order(world: Any, kit: ModuleType, n: int, lines: int, site: str = "h1") -> DispensingOrder:
    world.clock.set(world.clock.now() + timedelta(seconds=1))
    pushed = his_bills.push_bill(
        ctx=world.ctx,
        hospital_id=site,
        actor="terminal:his",
        external_ref=f"RX-{n}",
        bill=kit.outpatient_bill(10_000 + n),
        id_number=kit.person_number(10),
    ).bill
    now = world.clock.now()
    order = DispensingOrder(
        id=f"dsp_{n:032x}",
        hospital_id=site,
        bill_id=pushed.id,
        person_id=pushed.person_id,
        window="西药房",
        lines=tuple(
            DispensingLine(f"D-{n}-{k}", f"药品{k}", Decimal(2), 1_000) for k in range(lines)
        ),
        created_at=now,
        updated_at=now,
    )
    with world.ctx.uow() as uow:
        uow.orders.add_dispensing(order)
        uow.commit()
    return order


def _all(world: Any, query: RecordQuery, limit: int, keep: Any = None) -> list[list[str]]:
    pages: list[list[str]] = []
    after = None
    while True:
        lines, after = his_records.drug_lines(
            ctx=world.ctx,
            query=replace(query, after=after),  # as the route's record_query sets it
            keep=keep or (lambda _: True),
            after=after,
            limit=limit,
        )
        pages.append([medication.line_id(x.order, x.number) for x in lines])
        if after is None:
            return pages


def test_drug_lines_page_forward_by_line_inside_one_site(world: Any, kit: ModuleType) -> None:
    orders = [_order(world, kit, n, lines) for n, lines in ((1, 2), (2, 1), (3, 3))]
    other = _order(world, kit, 9, 2, site="h2")
    every = [medication.line_id(o, k) for o in orders for k in range(1, len(o.lines) + 1)]
    pages = _all(world, RecordQuery("h1"), 2)
    assert pages == [every[0:2], every[2:4], every[4:6]]
    assert _all(world, RecordQuery("h1"), 10) == [every]
    # Another site's orders and lines are not there, and not readable.
    assert _all(world, RecordQuery("h2"), 10) == [[medication.line_id(other, 1),
                                                   medication.line_id(other, 2)]]  # fmt: skip
    with pytest.raises(NotFound):
        his_records.drug_line(ctx=world.ctx, hospital_id="h2", order_id=orders[0].id, number=1)
    for number in (0, 3):
        with pytest.raises(NotFound):
            his_records.drug_line(
                ctx=world.ctx, hospital_id="h1", order_id=orders[0].id, number=number
            )
    found = his_records.drug_line(ctx=world.ctx, hospital_id="h1", order_id=orders[2].id, number=3)
    assert found.line.code == "D-3-2"
    assert found.bill is not None
    assert found.bill.id == orders[2].bill_id
    # A patient filter with nobody's id finds nothing.
    assert _all(world, RecordQuery("h1", person_id="psn_none"), 5) == [[]]


def test_line_status_maps_and_filters(world: Any, kit: ModuleType) -> None:
    order = _order(world, kit, 1, 3)
    later = world.clock.now() + timedelta(minutes=5)
    changed = order.collect({"D-1-0": Decimal(2), "D-1-1": Decimal(1)}, at=later)
    changed = changed.take_back(["D-1-2"], at=later)
    with world.ctx.uow() as uow:
        uow.orders.save_dispensing(changed)
        uow.commit()
    requests = [medication.medication_request_resource(changed, k, None) for k in (1, 2, 3)]
    dispenses = [medication.medication_dispense_resource(changed, k) for k in (1, 2, 3)]
    assert [r["status"] for r in requests] == ["completed", "active", "cancelled"]
    assert [d["status"] for d in dispenses] == ["completed", "in-progress", "declined"]
    assert dispenses[1]["quantity"] == {"value": Decimal(1)}
    assert dispenses[1]["authorizingPrescription"] == [
        {"reference": f"MedicationRequest/{requests[1]['id']}"}
    ]
    assert "quantity" not in dispenses[2]
    assert "whenHandedOver" not in dispenses[2]
    for statuses, status, expected in (
        (medication.REQUEST_STATUS, "cancelled", [requests[2]["id"]]),
        (medication.REQUEST_STATUS, "active", [requests[1]["id"]]),
        (medication.DISPENSE_STATUS, "completed", [requests[0]["id"]]),
        (medication.DISPENSE_STATUS, "preparation", []),
    ):
        query = RecordQuery("h1", statuses=medication.order_statuses(frozenset({status})))
        keep = lambda line, s=statuses, w=status: s[line.state] == w  # noqa: E731
        assert _all(world, query, 5, keep) == [expected]
    # The store pre-filters on the order's own state: a partial order is never queued.
    queued = RecordQuery("h1", statuses=frozenset({"queued"}))
    assert _all(world, queued, 5) == [[]]


def test_a_filter_that_skips_many_orders_answers_a_short_page_and_goes_on(
    world: Any, kit: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = [_order(world, kit, n, 1) for n in range(1, 6)]
    monkeypatch.setattr(his_records, "MAX_SCAN", 2)
    last = orders[-1].lines[0].code

    def only_last(line: DispensingLine) -> bool:
        return line.code == last

    pages = _all(world, RecordQuery("h1"), 1, only_last)
    assert [p for p in pages if p] == [[medication.line_id(orders[-1], 1)]]
    assert len(pages) > 1  # short pages with a next link, never a scan of everything


def _session(world: Any, n: int, hours: int, capacity: int, site: str = "h1") -> Schedule:
    now = world.clock.now()
    starts = now + timedelta(hours=hours)
    session = Schedule(
        id=f"sch_{n:032x}", hospital_id=site, department="呼吸内科", doctor=f"stf_{n}",
        doctor_name="李医生", session_date=starts.date(), period="custom", start_time=time(8),
        end_time=time(12), starts_at=starts, ends_at=starts + timedelta(hours=4),
        capacity=capacity, fee=FeeLine("REG-1", "挂号", "A", 1_000), hospital_tier=2,
        created_at=now,
    )  # fmt: skip
    with world.ctx.uow() as uow:
        uow.appointments.add_schedule(session)
        uow.commit()
    return session


def _book(world: Any, session: Schedule, slot: int, status: str = "booked") -> Appointment:
    now = world.clock.now()
    booking = Appointment(
        id=f"apt_{session.id[-8:]}{slot:024x}", hospital_id=session.hospital_id,
        schedule_id=session.id, person_id=world.people["Alice"], slot=slot, channel="his",
        status=status, idempotency_key=f"k-{session.id}-{slot}", booked_at=now,
        booked_by="terminal:his", cancelled_at=now if status == "cancelled" else None,
        release_at=now if status == "cancelled" else None,
    )  # fmt: skip
    with world.ctx.uow() as uow:
        uow.appointments.add(booking)
        uow.commit()
    return booking


def test_appointments_and_slots_are_searched_by_start_inside_one_site(world: Any) -> None:
    late, early = _session(world, 1, 48, 3), _session(world, 2, 24, 2)
    other = _session(world, 3, 24, 2, site="h2")
    booked = [_book(world, late, 2), _book(world, early, 1), _book(world, early, 2, "cancelled")]
    _book(world, other, 1)
    found = his_records.appointments(ctx=world.ctx, query=RecordQuery("h1", limit=10))
    by_start = sorted(booked, key=lambda b: (b.schedule_id != early.id, b.id))
    assert [a.id for a, _ in found] == [b.id for b in by_start]
    live = his_records.appointments(
        ctx=world.ctx, query=RecordQuery("h1", statuses=frozenset({"booked"}), limit=10)
    )
    assert {a.id for a, _ in live} == {booked[0].id, booked[1].id}
    tomorrow = RecordQuery("h1", until=late.starts_at, limit=10)
    assert {s.id for _, s in his_records.appointments(ctx=world.ctx, query=tomorrow)} == {early.id}
    nobody = RecordQuery("h1", person_id="psn_none", limit=10)
    assert his_records.appointments(ctx=world.ctx, query=nobody) == []
    # Slots: every numbered place of the site's sessions, by start then number.
    pages, after = [], None
    while True:
        page, after = his_records.slots(
            ctx=world.ctx, query=RecordQuery("h1", after=after), held=None, after=after, limit=2
        )
        pages.append([(x.schedule.id, x.number, x.held) for x in page])
        if after is None:
            break
    # The cancelled booking's slot was released (release_at now): free again.
    assert pages == [
        [(early.id, 1, True), (early.id, 2, False)],
        [(late.id, 1, False), (late.id, 2, True)],
        [(late.id, 3, False)],
    ]
    busy, more = his_records.slots(
        ctx=world.ctx, query=RecordQuery("h1"), held=True, after=None, limit=5
    )
    assert [(x.schedule.id, x.number) for x in busy] == [(early.id, 1), (late.id, 2)]
    assert more is None
    theirs, _ = his_records.slots(
        ctx=world.ctx, query=RecordQuery("h2"), held=None, after=None, limit=5
    )
    assert {x.schedule.id for x in theirs} == {other.id}
