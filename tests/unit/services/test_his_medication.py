"""MedicationRequest / MedicationDispense reads on the in-memory services: drug lines of the
site's dispensing orders, paged forward by line across orders, filtered by line status, inside
one site only; and their resources validate with the R4B models."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

from facepay.adapters.fhir import medication
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
            ctx=world.ctx, query=query, keep=keep or (lambda _: True), after=after, limit=limit
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
