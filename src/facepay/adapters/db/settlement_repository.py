"""Settlement records and yearly accumulators on SQLAlchemy Core."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    RowMapping,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from facepay.adapters.db.bill_repository import keyset
from facepay.adapters.db.ledger_repository import utc
from facepay.adapters.db.tables import ACCUMULATOR_FIELDS, accumulators, settlements
from facepay.adapters.interchange import parse_bill
from facepay.insurance.model import Accumulators, Bill, Coverage, ExplanationStep, Settlement
from facepay.services.ports import TOTAL_FIELDS, SettlementRecord, SettlementStatus, SiteTotals
from facepay.services.repositories import RecordQuery

_AMOUNTS = (
    "medfee_sumamt",
    "fund_pay_sumamt",
    "hifp_pay",
    "hifmi_pay",
    "maf_pay",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
)

# Built once: statements the payment path runs every time, values passed as parameters.
_INSERT_SETTLEMENT = insert(settlements)
_SAVE_ACCUMULATORS = (
    update(accumulators)
    .where(accumulators.c.person_id == bindparam("b_person"))
    .where(accumulators.c.year == bindparam("b_year"))
    .values({name: bindparam(f"v_{name}") for name in ACCUMULATOR_FIELDS})
)


def settlement_document(settlement: Settlement) -> str:
    """The whole settlement as JSON (explanation and accumulators included)."""
    return json.dumps(asdict(settlement), default=str, ensure_ascii=False, sort_keys=True)


def settlement_from_document(text: str) -> Settlement:
    """Rebuild a settlement from `settlement_document`."""
    raw: dict[str, Any] = json.loads(text)
    values: dict[str, Any] = {}
    for field in fields(Settlement):
        value = raw[field.name]
        if field.name == "service_date":
            value = date.fromisoformat(value)
        elif field.name in ("accumulators_after", "deltas"):
            value = Accumulators(**value)
        elif field.name == "explanation":
            value = tuple(ExplanationStep(**step) for step in value)
        values[field.name] = value
    return Settlement(**values)


def inputs_document(record: SettlementRecord) -> str | None:
    """The bill and the coverage a settlement was computed from, as JSON (None if unknown)."""
    if record.bill is None or record.coverage is None:
        return None
    body = {"bill": asdict(record.bill), "coverage": asdict(record.coverage)}
    return json.dumps(body, default=str, ensure_ascii=False, sort_keys=True)


def _inputs(text: str | None) -> tuple[Bill | None, Coverage | None]:
    if text is None:
        return None, None
    raw: dict[str, Any] = json.loads(text)
    return parse_bill(raw["bill"]), Coverage(**raw["coverage"])


def _record(row: RowMapping) -> SettlementRecord:
    status: SettlementStatus = "reversed" if row["status"] == "reversed" else "settled"
    bill, coverage = _inputs(row["inputs"])
    return SettlementRecord(
        id=row["id"],
        hospital_id=row["hospital_id"],
        idempotency_key=row["idempotency_key"],
        fingerprint=row["fingerprint"],
        person_id=row["person_id"],
        settlement=settlement_from_document(row["document"]),
        posting_key=row["posting_key"],
        status=status,
        created_at=utc(row["created_at"]),
        reversal_key=row["reversal_key"],
        reversed_at=utc(row["reversed_at"]) if row["reversed_at"] is not None else None,
        bill=bill,
        coverage=coverage,
    )


class SqlAlchemySettlementRepository:
    """Settlements on one open connection."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def totals_by_site(self) -> dict[str, SiteTotals]:
        """Standing settlements summed per site, in the database (one grouped query)."""
        t = settlements
        query = (
            select(
                t.c.hospital_id,
                func.count(),
                *(func.coalesce(func.sum(t.c[name]), 0) for name in TOTAL_FIELDS),
            )
            .where(t.c.status == "settled", t.c.hospital_id.is_not(None))
            .group_by(t.c.hospital_id)
        )
        return {
            row[0]: SiteTotals(int(row[1]), *(int(v) for v in row[2:]))
            for row in self._conn.execute(query)
        }

    def add(self, record: SettlementRecord) -> None:
        """Insert a settlement."""
        s = record.settlement
        self._conn.execute(
            _INSERT_SETTLEMENT,
            {
                "id": record.id,
                "hospital_id": record.hospital_id,
                "idempotency_key": record.idempotency_key,
                "fingerprint": record.fingerprint,
                "person_id": record.person_id,
                "year": s.deltas.year,
                "policy_id": s.policy_id,
                "visit_type": s.visit_type,
                "service_date": s.service_date,
                "document": settlement_document(s),
                "inputs": inputs_document(record),
                "posting_key": record.posting_key,
                "status": record.status,
                "created_at": record.created_at,
                **{name: getattr(s, name) for name in _AMOUNTS},
            },
        )

    def of_site(
        self, hospital_id: str, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[SettlementRecord]:
        """A page of the site's settlements, oldest first."""
        t = settlements
        query = select(t).where(t.c.hospital_id == hospital_id)
        if after is not None:
            at, last = after
            query = query.where(or_(t.c.created_at > at, and_(t.c.created_at == at, t.c.id > last)))
        query = query.order_by(t.c.created_at, t.c.id).limit(limit)
        return [_record(row) for row in self._conn.execute(query).mappings()]

    def search(self, query: RecordQuery) -> list[SettlementRecord]:
        """The site's settlements matching `query`, in (time, id) order."""
        t = settlements
        at = t.c.created_at if query.on == "created" else t.c.reversed_at
        found = select(t).where(t.c.hospital_id == query.hospital_id, at.is_not(None))
        if query.person_id is not None:
            found = found.where(t.c.person_id == query.person_id)
        if query.statuses is not None:
            found = found.where(t.c.status.in_(sorted(query.statuses)))
        found = keyset(found, query, at, t.c.id)
        rows = [_record(row) for row in self._conn.execute(found).mappings()]
        return rows[::-1] if query.before is not None else rows

    def get(self, settlement_id: str) -> SettlementRecord | None:
        """By id."""
        return self._one(settlements.c.id == settlement_id)

    def by_key(self, idempotency_key: str) -> SettlementRecord | None:
        """By idempotency key."""
        return self._one(settlements.c.idempotency_key == idempotency_key)

    def by_reversal_key(self, reversal_key: str) -> SettlementRecord | None:
        """By the key of its reversal."""
        return self._one(settlements.c.reversal_key == reversal_key)

    def mark_reversed(self, settlement_id: str, *, reversal_key: str, at: datetime) -> None:
        """Set the status; the settlement's amounts never change."""
        self._conn.execute(
            update(settlements)
            .where(settlements.c.id == settlement_id)
            .values(status="reversed", reversal_key=reversal_key, reversed_at=at)
        )

    def _one(self, condition: Any) -> SettlementRecord | None:
        row = self._conn.execute(select(settlements).where(condition)).mappings().first()
        return _record(row) if row is not None else None


class SqlAlchemyAccumulatorRepository:
    """Accumulator rows on one open connection."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def lock(self, person_id: str, year: int) -> Accumulators:
        """SELECT ... FOR UPDATE the row; create it first (without racing) if it is missing."""
        query = (
            select(accumulators)
            .where(accumulators.c.person_id == person_id, accumulators.c.year == year)
            .with_for_update()
        )
        row = self._conn.execute(query).mappings().first()
        if row is None:
            dialect = self._conn.dialect.name
            module = postgresql if dialect == "postgresql" else sqlite
            values = {"person_id": person_id, "year": year, **dict.fromkeys(ACCUMULATOR_FIELDS, 0)}
            self._conn.execute(
                module.insert(accumulators)
                .values(values)
                .on_conflict_do_nothing(index_elements=["person_id", "year"])
            )
            row = self._conn.execute(query).mappings().one()
        return Accumulators(year=year, **{name: row[name] for name in ACCUMULATOR_FIELDS})

    def save(self, person_id: str, accumulators_: Accumulators) -> None:
        """Overwrite the locked row."""
        self._conn.execute(
            _SAVE_ACCUMULATORS,
            {
                "b_person": person_id,
                "b_year": accumulators_.year,
                **{f"v_{name}": value for name, value in accumulators_.amounts().items()},
            },
        )
