"""Emergency identifications, records, charges and the day counters on SQLAlchemy Core."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from facepay.adapters.db.bill_repository import line_items
from facepay.adapters.db.ledger_repository import utc
from facepay.adapters.db.tables import (
    emergency_charges,
    emergency_counters,
    emergency_identifications,
    emergency_records,
)
from facepay.hospital.emergency import (
    EmergencyCharge,
    EmergencyIdentification,
    EmergencyReason,
    EmergencyRecord,
)
from facepay.insurance.model import BillLine


def lines_document(lines: tuple[BillLine, ...]) -> str:
    """Bill lines as JSON, in the interchange format of a bill's lines."""
    return json.dumps(line_items(lines), ensure_ascii=False, sort_keys=True)


def parse_lines(text: str) -> tuple[BillLine, ...]:
    """What `lines_document` wrote."""
    lines = []
    for item in json.loads(text):
        ratio = item.get("selfpay_ratio")
        lines.append(
            BillLine(
                code=item["code"],
                name=item["name"],
                item_class=item["item_class"],
                unit_price=int(item["unit_price"]),
                quantity=Decimal(item["quantity"]),
                price_ceiling=item.get("price_ceiling"),
                selfpay_ratio=Decimal(ratio) if ratio is not None else None,
            )
        )
    return tuple(lines)


def _when(value: Any) -> Any:
    return utc(value) if value is not None else None


def _identification(row: RowMapping) -> EmergencyIdentification:
    return EmergencyIdentification(
        id=row["id"],
        hospital_id=row["hospital_id"],
        actor=row["actor"],
        reason=EmergencyReason(row["reason_code"], row["reason_note"]),
        mode=row["mode"],
        decision=row["decision"],
        person_id=row["person_id"],
        created_at=utc(row["created_at"]),
        expires_at=utc(row["expires_at"]),
        used_at=_when(row["used_at"]),
        used_for=row["used_for"],
    )


def _record(row: RowMapping) -> EmergencyRecord:
    values = dict(row)
    for name in ("opened_at", "merged_at"):
        values[name] = _when(values[name])
    return EmergencyRecord(**values)


def _charge(row: RowMapping) -> EmergencyCharge:
    values = dict(row)
    values["lines"] = parse_lines(values["lines"])
    values["charged_at"] = utc(values["charged_at"])
    return EmergencyCharge(**values)


class SqlAlchemyEmergencyRepository:
    """Emergency rows; every read is within one site, locked where a change follows."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add_identification(self, record: EmergencyIdentification) -> None:
        """Insert."""
        self._c.execute(insert(emergency_identifications).values(**self._id_values(record)))

    def _id_values(self, record: EmergencyIdentification) -> dict[str, object]:
        values = {k: v for k, v in record.__dict__.items() if k != "reason"}
        return {**values, "reason_code": record.reason.code, "reason_note": record.reason.note}

    def identification(
        self, identification_id: str, hospital_id: str
    ) -> EmergencyIdentification | None:
        """Within the site, FOR UPDATE."""
        t = emergency_identifications
        query = (
            select(t)
            .where(t.c.id == identification_id, t.c.hospital_id == hospital_id)
            .with_for_update()
        )
        found = self._c.execute(query).mappings().first()
        return _identification(found) if found else None

    def save_identification(self, record: EmergencyIdentification) -> None:
        """Overwrite."""
        t = emergency_identifications
        self._c.execute(update(t).where(t.c.id == record.id).values(**self._id_values(record)))

    def next_number(self, hospital_id: str, day: date) -> int:
        """Create the day's counter if missing (racing creators do not fail), then take the
        next number under the row's lock."""
        t = emergency_counters
        values = {"hospital_id": hospital_id, "day": day, "last": 0}
        dialect = postgresql if self._c.dialect.name == "postgresql" else sqlite
        self._c.execute(dialect.insert(t).values(**values).on_conflict_do_nothing())
        where = (t.c.hospital_id == hospital_id, t.c.day == day)
        last = self._c.execute(select(t.c.last).where(*where).with_for_update()).scalar_one()
        self._c.execute(update(t).where(*where).values(last=last + 1))
        return int(last) + 1

    def add_record(self, record: EmergencyRecord) -> None:
        """Insert."""
        self._c.execute(insert(emergency_records).values(**record.__dict__))

    def record(self, record_id: str, hospital_id: str) -> EmergencyRecord | None:
        """Within the site, FOR UPDATE."""
        t = emergency_records
        query = (
            select(t).where(t.c.id == record_id, t.c.hospital_id == hospital_id).with_for_update()
        )
        found = self._c.execute(query).mappings().first()
        return _record(found) if found else None

    def save_record(self, record: EmergencyRecord) -> None:
        """Overwrite."""
        t = emergency_records
        self._c.execute(update(t).where(t.c.id == record.id).values(**record.__dict__))

    def records(self, hospital_id: str, *, status: str | None, limit: int) -> list[EmergencyRecord]:
        """Newest first."""
        t = emergency_records
        query = select(t).where(t.c.hospital_id == hospital_id)
        if status is not None:
            query = query.where(t.c.status == status)
        query = query.order_by(t.c.opened_at.desc(), t.c.id.desc()).limit(limit)
        return [_record(row) for row in self._c.execute(query).mappings()]

    def record_by_bill(self, hospital_id: str, bill_id: str) -> EmergencyRecord | None:
        """The record merged into the bill, FOR UPDATE."""
        t = emergency_records
        query = (
            select(t)
            .where(t.c.hospital_id == hospital_id, t.c.bill_id == bill_id)
            .with_for_update()
        )
        found = self._c.execute(query).mappings().first()
        return _record(found) if found else None

    def add_charge(self, charge: EmergencyCharge) -> None:
        """Insert."""
        values = {**charge.__dict__, "lines": lines_document(charge.lines)}
        self._c.execute(insert(emergency_charges).values(**values))

    def charge_by_key(self, hospital_id: str, idempotency_key: str) -> EmergencyCharge | None:
        """By key within the site."""
        t = emergency_charges
        query = select(t).where(
            t.c.hospital_id == hospital_id, t.c.idempotency_key == idempotency_key
        )
        found = self._c.execute(query).mappings().first()
        return _charge(found) if found else None

    def charges_of(self, record_id: str) -> list[EmergencyCharge]:
        """Oldest first."""
        t = emergency_charges
        query = select(t).where(t.c.record_id == record_id).order_by(t.c.charged_at, t.c.id)
        return [_charge(row) for row in self._c.execute(query).mappings()]

    def merged_of_person(self, person_id: str) -> list[EmergencyRecord]:
        """Merged, not settled, of every site (indexed by person)."""
        t = emergency_records
        query = select(t).where(t.c.person_id == person_id, t.c.status == "merged")
        return [_record(row) for row in self._c.execute(query).mappings()]
