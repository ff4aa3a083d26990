"""The nightly reconciliation of one site's day (`facepay reconcile --date D`).

facepay's side of the day is read from its own records: the settlements made and reversed that
day (for the insurance platform, keyed by the platform's settlement id) and the bills paid and
refunded that day (for the HIS, keyed by the HIS's own invoice identifier, the bill's
`external_ref`). The other sides come from outside: the platform's 3202 statement, the HIS's
day as a FHIR PaymentReconciliation. The comparison (`supervision.reconciliation`) lists every
difference; each becomes an alert of the site, once (running the night again adds none), and
the run is audited. Nothing here moves money.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Protocol

from facepay.services.context import Storage
from facepay.services.his_events import MONEY_ACTIONS, HisEvent, as_event
from facepay.services.ports import SettlementRecord, UnitOfWork
from facepay.services.repositories import RecordQuery
from facepay.services.support import audit, require_hospital
from facepay.supervision.alerts import Alert
from facepay.supervision.reconciliation import (
    RECONCILIATION_DIFFERENCE,
    Comparison,
    Difference,
    Entry,
    EntryKind,
    Reconciliation,
    compare,
    net_totals,
    totals_refused,
)

PLATFORM_FIELDS = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay")


@dataclass(frozen=True)
class DayWindow:
    """One local day as an instant range in UTC: [since, until)."""

    day: date
    since: datetime
    until: datetime


def day_window(day: date, utc_offset_minutes: int) -> DayWindow:
    """The hospital's local day `day` (its UTC offset from the settings) in UTC."""
    zone = timezone(timedelta(minutes=utc_offset_minutes))
    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    return DayWindow(day, start, start + timedelta(days=1))


def his_side(storage: Storage, *, hospital_id: str, window: DayWindow) -> list[Entry]:
    """The site's bills paid and refunded in the window, keyed by the HIS's identifier: a
    payment with the bill's total, a bill's refunds of the day summed into one refund."""
    payments: list[Entry] = []
    refunds: dict[str, int] = defaultdict(int)
    with storage.uow() as uow:
        require_hospital(uow, hospital_id)
        moves = uow.audit.between(hospital_id, window.since, window.until, MONEY_ACTIONS)
        refs: dict[str, str | None] = {}
        for move in moves:
            event = as_event(move, hospital_id)
            if event is None:
                continue
            if event.bill_id not in refs:
                bill = uow.bills.get(event.bill_id, hospital_id)
                refs[event.bill_id] = bill.external_ref if bill is not None else None
            ref = refs[event.bill_id]
            if ref is None:
                continue
            if event.kind == "bill.refunded":
                refunds[ref] += event.amount_fen or 0
            else:
                payments.append(Entry(ref, "payment", {"amount": _paid(uow, event)}))
    return [*payments, *(Entry(ref, "refund", {"amount": fen}) for ref, fen in refunds.items())]


class PlatformStatement(Protocol):
    """The insurance platform's side of a day (the national platform's 3201/3202)."""

    def key_of(self, hospital_id: str, idempotency_key: str) -> str | None:
        """The platform's settlement id of the payment made under `idempotency_key` (None:
        settled by facepay's own engine, never sent to the platform)."""
        ...

    def day(
        self, hospital_id: str, day: date, *, totals: dict[str, int], count: int
    ) -> PlatformAnswer:
        """The platform's settlements and cancels of the site's day, by its settlement id, and
        its own check (3201) of facepay's net totals of the day."""
        ...


@dataclass(frozen=True)
class PlatformAnswer:
    """What the platform answered of one site's day."""

    entries: list[Entry]
    refused: str | None
    """None when the platform confirmed facepay's totals, else its words."""


@dataclass(frozen=True)
class PlatformSide:
    """facepay's settlements of the day as the platform should hold them."""

    entries: list[Entry]
    local_only: int
    """Settlements of the day facepay's own engine made (never on the platform)."""


_PAGE = 500


def platform_side(
    storage: Storage, *, hospital_id: str, window: DayWindow, statement: PlatformStatement
) -> PlatformSide:
    """The site's settlements made in the window (payments) and reversed in it (refunds),
    keyed by the platform's settlement id, with every national amount."""
    made: list[tuple[EntryKind, SettlementRecord]] = []
    with storage.uow() as uow:
        require_hospital(uow, hospital_id)
        for on, kind in (("created", "payment"), ("reversed", "refund")):
            after = None
            while True:
                query = RecordQuery(
                    hospital_id=hospital_id,
                    since=window.since,
                    until=window.until,
                    after=after,
                    limit=_PAGE,
                    on=on,  # type: ignore[arg-type]
                )
                page = uow.settlements.search(query)
                made.extend((kind, record) for record in page)  # type: ignore[misc]
                if len(page) < _PAGE:
                    break
                last = page[-1]
                stamp = last.created_at if on == "created" else last.reversed_at
                assert stamp is not None
                after = (stamp, last.id)
    # The platform's keys are looked up after the transaction: the platform's message log is
    # another connection, which SQLite would keep waiting on this one's lock.
    entries: list[Entry] = []
    local_only = 0
    for kind, record in made:
        key = statement.key_of(hospital_id, record.idempotency_key)
        if key is None:
            local_only += kind == "payment"
            continue
        s = record.settlement
        amounts = {
            "medfee_sumamt": s.medfee_sumamt,
            "fund_pay_sumamt": s.fund_pay_sumamt,
            "acct_pay": s.acct_pay,
            "psn_cash_pay": s.psn_cash_pay,
        }
        entries.append(Entry(key, kind, amounts))
    return PlatformSide(entries, local_only)


def reconcile_day(
    storage: Storage,
    *,
    hospital_id: str,
    day: date,
    his: Sequence[Entry] | None,
    statement: PlatformStatement | None,
    actor: str,
) -> tuple[Reconciliation, int]:
    """The site's day against the platform (when it settles there) and the HIS (when its
    day was given); the differences raised as alerts. Returns the report and how many of its
    alerts are new."""
    window = day_window(day, storage.settings.hospital_utc_offset_minutes)
    sides: list[tuple[str, Sequence[Entry], Sequence[Entry], Sequence[Difference]]] = []
    skipped: dict[str, str] = {}
    if statement is None:
        skipped["platform"] = (
            "the site settles with facepay's own engine: it is its own platform, nothing to compare"
        )
    else:
        ours = platform_side(storage, hospital_id=hospital_id, window=window, statement=statement)
        totals, count = net_totals(ours.entries)
        answer = statement.day(hospital_id, day, totals=totals, count=count)
        refused = answer.refused
        extra = (
            []
            if refused is None
            else [totals_refused("platform", refused, totals.get("medfee_sumamt", 0))]
        )
        sides.append(("platform", ours.entries, answer.entries, extra))
        if ours.local_only:
            skipped["platform_local_only"] = (
                f"{ours.local_only} settlement(s) of the day were made by facepay's own engine "
                "(booking fees, emergency bills, offline vouchers) and are not on the platform"
            )
    if his is None:
        skipped["his"] = "no HIS day was given (--his FILE)"
    else:
        sides.append(("his", his_side(storage, hospital_id=hospital_id, window=window), his, []))
    report = reconcile(hospital_id=hospital_id, day=day, sides=sides, skipped=skipped)
    added = record_alerts(storage, report, actor=actor, now=storage.clock.now())
    return report, added


def _paid(uow: UnitOfWork, event: HisEvent) -> int:
    """A payment's total: in its audit entry, or (an offline voucher) its settlement's."""
    if event.amount_fen is not None:
        return event.amount_fen
    record = uow.settlements.get(event.settlement_id) if event.settlement_id else None
    return record.settlement.medfee_sumamt if record is not None else 0


def record_alerts(storage: Storage, report: Reconciliation, *, actor: str, now: datetime) -> int:
    """One alert per difference, unless that very difference was raised for this site and day
    already; the run audited with its counts. Returns how many alerts are new."""
    added = 0
    with storage.uow() as uow:
        require_hospital(uow, report.hospital_id)
        # The site's audit chain is locked until commit: two runs of one site's night take
        # turns here, so the second sees the first's alerts and adds none of them again.
        uow.audit.last(report.hospital_id)
        raised = uow.alerts.of_hospital(report.hospital_id, kind=RECONCILIATION_DIFFERENCE)
        known = {a.id for a in raised}
        for difference in report.differences:
            alert_id = _alert_id(report, difference)
            if alert_id in known:
                continue
            uow.alerts.add(
                Alert(
                    id=alert_id,
                    hospital_id=report.hospital_id,
                    kind=RECONCILIATION_DIFFERENCE,
                    subject=difference.key,
                    details={"date": report.day.isoformat(), **difference.as_json()},
                    created_at=now,
                )
            )
            known.add(alert_id)
            added += 1
        audit(
            storage,
            uow,
            actor=actor,
            action="reconciliation.run",
            subject=f"{report.hospital_id}:{report.day.isoformat()}",
            details={
                "hospital": report.hospital_id,
                "date": report.day.isoformat(),
                "sides": [c.side for c in report.comparisons],
                "differences": len(report.differences),
                "new_alerts": added,
            },
        )
        uow.commit()
    return added


def _alert_id(report: Reconciliation, difference: Difference) -> str:
    identity = "|".join(
        str(part)
        for part in (
            report.hospital_id,
            report.day.isoformat(),
            difference.side,
            difference.kind,
            difference.key,
            difference.entry,
            difference.field,
            difference.facepay_fen,
            difference.other_fen,
        )
    )
    return "alr_" + hashlib.sha256(identity.encode()).hexdigest()[:32]


def reconcile(
    *,
    hospital_id: str,
    day: date,
    sides: Iterable[
        tuple[str, Sequence[Entry], Sequence[Entry]]
        | tuple[str, Sequence[Entry], Sequence[Entry], Sequence[Difference]]
    ],
    skipped: dict[str, str],
) -> Reconciliation:
    """The report of the sides given as (side, facepay's entries, the other side's[, what the
    other side said of facepay's totals])."""
    comparisons: list[Comparison] = []
    for side, ours, theirs, *said in sides:
        if side not in ("platform", "his"):
            raise ValueError(f"unknown side {side!r}")
        extra = said[0] if said else ()
        comparisons.append(compare(side, ours, theirs, extra=extra))  # type: ignore[arg-type]
    return Reconciliation(hospital_id, day, tuple(comparisons), skipped)
