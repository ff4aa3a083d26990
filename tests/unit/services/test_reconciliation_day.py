"""facepay's side of a day for the HIS (bills paid and refunded, by the HIS's identifier), the
comparison with the HIS's day, and the alerts: once per difference, however often it runs."""

from __future__ import annotations

from datetime import date
from types import ModuleType
from typing import Any

from tests.unit.services.test_his_events import _paid_bill

from facepay.services.reconciliation import day_window, his_side, reconcile, record_alerts
from facepay.services.refunds import refund_bill
from facepay.supervision.reconciliation import RECONCILIATION_DIFFERENCE, Entry

DAY = date(2026, 5, 4)


def _window(world: Any) -> Any:
    return day_window(DAY, world.ctx.settings.hospital_utc_offset_minutes)


def test_the_day_of_the_his_is_each_paid_bill_and_each_bills_refunds(
    world: Any, kit: ModuleType
) -> None:
    first = _paid_bill(world, kit, "HIS-1")
    _paid_bill(world, kit, "HIS-2")
    _paid_bill(world, kit, "HIS-3", hospital="h2")
    refund_bill(ctx=world.ctx, hospital_id="h1", actor="c", bill_id=first, reversal_key="r-1")
    entries = his_side(world.ctx, hospital_id="h1", window=_window(world))
    assert [(e.key, e.kind, e.amounts["amount"]) for e in entries] == [
        ("HIS-1", "payment", 17_000),
        ("HIS-2", "payment", 17_000),
        ("HIS-1", "refund", 17_000),
    ]
    assert his_side(world.ctx, hospital_id="h1", window=day_window(date(2026, 5, 5), 480)) == []


def test_a_dropped_and_an_altered_entry_are_two_alerts_raised_once(
    world: Any, kit: ModuleType
) -> None:
    for n in range(3):
        _paid_bill(world, kit, f"HIS-{n}")
    ours = his_side(world.ctx, hospital_id="h1", window=_window(world))
    theirs = [Entry("HIS-0", "payment", {"amount": 17_000}),
              Entry("HIS-1", "payment", {"amount": 12_000})]  # fmt: skip
    report = reconcile(hospital_id="h1", day=DAY, sides=[("his", ours, theirs)], skipped={})
    assert [(d.kind, d.key) for d in report.differences] == [
        ("amount_differs", "HIS-1"),
        ("missing_on_other_side", "HIS-2"),
    ]
    now = world.clock.now()
    assert record_alerts(world.ctx, report, actor="reconcile", now=now) == 2
    assert record_alerts(world.ctx, report, actor="reconcile", now=now) == 0
    alerts = world.store.alerts.of_hospital("h1", kind=RECONCILIATION_DIFFERENCE)
    assert sorted(a.subject for a in alerts) == ["HIS-1", "HIS-2"]
    runs = [e for e in world.store.audit.entries if e.action == "reconciliation.run"]
    assert [r.details["new_alerts"] for r in runs] == [2, 0]
