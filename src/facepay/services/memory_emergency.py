"""In-memory `EmergencyRepository` (the fake for service tests and the database-less demo)."""

from __future__ import annotations

from datetime import date

from facepay.hospital.emergency import EmergencyCharge, EmergencyIdentification, EmergencyRecord
from facepay.shared.errors import Conflict


class InMemoryEmergencyRepository:
    """Emergency identifications, records, charges and day counters in dicts."""

    def __init__(self) -> None:
        self.identifications: dict[str, EmergencyIdentification] = {}
        self.rows: dict[str, EmergencyRecord] = {}
        self.charges: dict[str, EmergencyCharge] = {}
        self.counters: dict[tuple[str, date], int] = {}

    def add_identification(self, record: EmergencyIdentification) -> None:
        """Store."""
        self.identifications[record.id] = record

    def identification(
        self, identification_id: str, hospital_id: str
    ) -> EmergencyIdentification | None:
        """Within the site."""
        found = self.identifications.get(identification_id)
        return found if found is not None and found.hospital_id == hospital_id else None

    def save_identification(self, record: EmergencyIdentification) -> None:
        """Overwrite."""
        self.identifications[record.id] = record

    def next_number(self, hospital_id: str, day: date) -> int:
        """The day's next number (the store lock serialises writers)."""
        number = self.counters.get((hospital_id, day), 0) + 1
        self.counters[(hospital_id, day)] = number
        return number

    def add_record(self, record: EmergencyRecord) -> None:
        """Store; (site, number) unique as the database enforces."""
        if any(
            r.hospital_id == record.hospital_id and r.number == record.number
            for r in self.rows.values()
        ):
            raise Conflict("duplicate emergency record number")
        self.rows[record.id] = record

    def record(self, record_id: str, hospital_id: str) -> EmergencyRecord | None:
        """Within the site."""
        found = self.rows.get(record_id)
        return found if found is not None and found.hospital_id == hospital_id else None

    def save_record(self, record: EmergencyRecord) -> None:
        """Overwrite."""
        self.rows[record.id] = record

    def records(self, hospital_id: str, *, status: str | None, limit: int) -> list[EmergencyRecord]:
        """Newest first."""
        mine = [
            r
            for r in self.rows.values()
            if r.hospital_id == hospital_id and (status is None or r.status == status)
        ]
        mine.sort(key=lambda r: (r.opened_at, r.id), reverse=True)
        return mine[:limit]

    def record_by_bill(self, hospital_id: str, bill_id: str) -> EmergencyRecord | None:
        """The record merged into this bill."""
        return next(
            (
                r
                for r in self.rows.values()
                if r.hospital_id == hospital_id and r.bill_id == bill_id
            ),
            None,
        )

    def add_charge(self, charge: EmergencyCharge) -> None:
        """Store; (site, key) unique."""
        if self.charge_by_key(charge.hospital_id, charge.idempotency_key) is not None:
            raise Conflict("duplicate emergency charge key")
        self.charges[charge.id] = charge

    def charge_by_key(self, hospital_id: str, idempotency_key: str) -> EmergencyCharge | None:
        """By key within the site."""
        return next(
            (
                c
                for c in self.charges.values()
                if c.hospital_id == hospital_id and c.idempotency_key == idempotency_key
            ),
            None,
        )

    def charges_of(self, record_id: str) -> list[EmergencyCharge]:
        """Oldest first."""
        mine = [c for c in self.charges.values() if c.record_id == record_id]
        return sorted(mine, key=lambda c: (c.charged_at, c.id))

    def merged_of_person(self, person_id: str) -> list[EmergencyRecord]:
        """Merged, not settled, of every site."""
        return [r for r in self.rows.values() if r.person_id == person_id and r.status == "merged"]
