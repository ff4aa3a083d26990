"""What a hospital system is told about: bills paid, refunded and dispensed, read off the audit log.

Every change a hospital system cares about already writes an audit entry into its site's hash
chain, in the same transaction as the change itself, and a chain's sequence numbers are handed
out under the chain's lock, so they commit in order with no gaps. The site's chain is therefore
a transactional outbox: a notifier (FHIR rest-hook, HL7 v2 over MLLP) keeps a durable cursor, a
chain sequence number, reads the events after it, delivers them, and then moves the cursor. A
crash between delivery and the move delivers an event again, never loses one; every event
carries a stable id (`<site>:<seq>`) by which the receiver can drop a repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from facepay.services.context import Storage
from facepay.supervision.audit import AuditEntry

EventKind = Literal["bill.paid", "bill.refunded", "bill.dispensed", "bill.returned"]

_KINDS: dict[str, EventKind] = {
    "payment.settle": "bill.paid",
    "offline.voucher_posted": "bill.paid",
    "payment.refund": "bill.refunded",
    "dispensing.collect": "bill.dispensed",
    "dispensing.return": "bill.returned",
}
"""Audit actions that a hospital system hears of, and what it hears."""

MONEY_ACTIONS = frozenset(a for a, kind in _KINDS.items() if kind in ("bill.paid", "bill.refunded"))
"""The audit actions that pay or refund a bill (the nightly reconciliation's HIS side)."""

_ABOUT_THE_BILL = frozenset({"payment.settle", "payment.refund"})
"""Actions whose audit subject is the bill itself (the others name it in their details)."""

MAX_BATCH = 500


@dataclass(frozen=True)
class HisEvent:
    """One thing that happened to a bill of the site, in commit order."""

    id: str
    """`<site>:<seq>`: stable, so that a receiver can drop a repeat."""
    seq: int
    hospital_id: str
    kind: EventKind
    bill_id: str
    at: datetime
    settlement_id: str | None
    amount_fen: int | None
    """Paid: the bill's total; refunded: what was refunded; otherwise None."""
    details: dict[str, object]


def events_after(
    storage: Storage, *, hospital_id: str, after_seq: int, limit: int = 100
) -> tuple[list[HisEvent], int]:
    """The site's events after chain position `after_seq`, at most `limit`, and the position
    read up to (past entries that are not events too, so a cursor moves over them)."""
    limit = max(1, min(limit, MAX_BATCH))
    events: list[HisEvent] = []
    reached = after_seq
    with storage.uow() as uow:
        for entry in uow.audit.iterate(chain=hospital_id, from_seq=after_seq + 1):
            event = as_event(entry, hospital_id)
            if event is not None:
                if len(events) == limit:
                    break
                events.append(event)
            reached = entry.seq
    return events, reached


def head(storage: Storage, *, hospital_id: str) -> int:
    """The site's newest chain position: where a new subscriber starts (it hears what follows)."""
    with storage.uow() as uow:
        last = uow.audit.last(hospital_id)
    return last.seq if last is not None else 0


def as_event(entry: AuditEntry, hospital_id: str) -> HisEvent | None:
    """The event an audit entry stands for, or None when a hospital system does not hear of it."""
    kind = _KINDS.get(entry.action)
    if kind is None:
        return None
    details: dict[str, object] = dict(entry.details)
    bill = entry.subject if entry.action in _ABOUT_THE_BILL else details.get("bill")
    if not isinstance(bill, str) or not bill:
        return None  # an offline voucher quarantined before it named a bill, say
    settlement = details.get("settlement")
    return HisEvent(
        id=f"{hospital_id}:{entry.seq}",
        seq=entry.seq,
        hospital_id=hospital_id,
        kind=kind,
        bill_id=bill,
        at=entry.at,
        settlement_id=settlement if isinstance(settlement, str) else None,
        amount_fen=_amount(entry.action, details),
        details=details,
    )


def _amount(action: str, details: dict[str, object]) -> int | None:
    key = {
        "payment.settle": "total_fen",
        "payment.refund": "refunded_fen",
        "dispensing.return": "refunded_fen",
    }.get(action)
    value = details.get(key) if key else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
