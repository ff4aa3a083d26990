"""Use cases racing on one database: an identification pays once, the audit chain never forks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import ModuleType

import pytest

from facepay.services.audit import record_event, verify_audit
from facepay.services.bills import pay_bill, post_bill
from facepay.services.context import Services
from facepay.services.identification import identify_by_credentials
from facepay.shared.errors import Conflict

pytestmark = pytest.mark.slow


def _race(workers: list[Callable[[], object]]) -> list[object]:
    barrier = threading.Barrier(len(workers))
    results: list[object] = [None] * len(workers)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = workers[i]()
        except Exception as error:  # the test sorts outcomes afterwards
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_one_identification_pays_one_bill_however_many_race(ctx: Services, kit: ModuleType) -> None:
    found = identify_by_credentials(
        ctx=ctx,
        hospital_id="h1",
        actor="kiosk",
        id_number=kit.OBAMA.card.id_number,
        insurance_card_number=kit.OBAMA.insurance_card,
    )
    bills = [
        post_bill(
            ctx=ctx,
            hospital_id="h1",
            actor="his",
            id_number=kit.OBAMA.card.id_number,
            external_ref=f"race-{i}",
            bill=kit.bill(10_000 + i),
        ).id
        for i in range(4)
    ]

    def pay(bill_id: str, key: str) -> Callable[[], object]:
        return lambda: pay_bill(
            ctx=ctx,
            hospital_id="h1",
            actor="kiosk",
            bill_id=bill_id,
            identification_id=found.identification_id,
            idempotency_key=key,
        )

    results = _race([pay(bill_id, f"k-{i}") for i, bill_id in enumerate(bills)])
    paid = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(paid) == 1
    assert len(refused) == 3  # identification_used, or storage_busy for a lost lock wait
    with ctx.uow() as uow:
        statuses = sorted(uow.bills.get(b, "h1").status for b in bills)  # type: ignore[union-attr]
    assert statuses == ["open", "open", "open", "paid"]
    assert verify_audit(ctx=ctx).ok


def test_concurrent_audited_use_cases_keep_one_chain(ctx: Services, kit: ModuleType) -> None:
    before = verify_audit(ctx=ctx).entries_checked
    workers: list[Callable[[], object]] = []
    for i in range(6):
        workers.append(
            lambda i=i: record_event(ctx=ctx, actor="staff", action="staff.login", subject=f"s{i}")
        )
        workers.append(
            lambda i=i: post_bill(
                ctx=ctx,
                hospital_id="h1",
                actor="his",
                id_number=kit.BIDEN.card.id_number,
                external_ref=f"audit-{i}",
                bill=kit.bill(1_000),
            )
        )
    results = _race(workers)
    assert not [r for r in results if isinstance(r, Exception)]
    report = verify_audit(ctx=ctx)
    assert report.ok
    assert report.entries_checked == before + 12
