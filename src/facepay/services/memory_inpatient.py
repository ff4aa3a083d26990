"""In-memory `InpatientRepository`: the fake of the service tests, with the database's
uniqueness rules (one open stay per person and per bed, one check-in per stay and day)."""

from __future__ import annotations

from collections.abc import Sequence

from facepay.hospital.inpatient import BedsideCheckIn, ChargeLine, Deposit, Discharge, Stay
from facepay.shared.errors import Conflict


class InMemoryInpatientRepository:
    """Stays and their records in dicts."""

    def __init__(self) -> None:
        self.stays: dict[str, Stay] = {}
        self.deposits: dict[str, Deposit] = {}
        self.lines: dict[str, ChargeLine] = {}
        self.check_ins: dict[str, BedsideCheckIn] = {}
        self.discharges: dict[str, Discharge] = {}

    def _check_open(self, stay: Stay) -> None:
        if not stay.is_open:
            return
        others = [s for s in self.stays.values() if s.is_open and s.id != stay.id]
        if any(s.person_id == stay.person_id for s in others):
            raise Conflict("the patient is admitted already", code="already_admitted")
        place = (stay.hospital_id, stay.ward, stay.bed)
        if any((s.hospital_id, s.ward, s.bed) == place for s in others):
            raise Conflict("the bed holds another patient", code="bed_occupied")

    def add_stay(self, stay: Stay) -> None:
        """Store, under the open-stay rules."""
        self._check_open(stay)
        self.stays[stay.id] = stay

    def stay(self, stay_id: str, hospital_id: str) -> Stay | None:
        """Within the hospital only."""
        found = self.stays.get(stay_id)
        return found if found is not None and found.hospital_id == hospital_id else None

    def open_stay_of_person(self, person_id: str) -> Stay | None:
        """At any site."""
        return next(
            (s for s in self.stays.values() if s.is_open and s.person_id == person_id), None
        )

    def open_stay_in_bed(self, hospital_id: str, ward: str, bed: str) -> Stay | None:
        """In this bed."""
        place = (hospital_id, ward, bed)
        return next(
            (
                s
                for s in self.stays.values()
                if s.is_open and (s.hospital_id, s.ward, s.bed) == place
            ),
            None,
        )

    def save_stay(self, stay: Stay) -> None:
        """Overwrite, under the open-stay rules."""
        self._check_open(stay)
        self.stays[stay.id] = stay

    def add_deposit(self, deposit: Deposit) -> None:
        """Store (unique key)."""
        if self.deposit_by_key(deposit.idempotency_key) is not None:
            raise Conflict("duplicate deposit key", code="idempotency_conflict")
        self.deposits[deposit.id] = deposit

    def deposit_by_key(self, idempotency_key: str) -> Deposit | None:
        """By key."""
        return next(
            (d for d in self.deposits.values() if d.idempotency_key == idempotency_key), None
        )

    def deposits_of(self, stay_id: str) -> list[Deposit]:
        """Oldest first."""
        found = [d for d in self.deposits.values() if d.stay_id == stay_id]
        return sorted(found, key=lambda d: (d.created_at, d.id))

    def save_deposit(self, deposit: Deposit) -> None:
        """Overwrite."""
        self.deposits[deposit.id] = deposit

    def add_charge_lines(self, lines: Sequence[ChargeLine]) -> None:
        """Store (stay, reference, line number) once."""
        for line in lines:
            if any(
                (o.stay_id, o.reference, o.line_no) == (line.stay_id, line.reference, line.line_no)
                for o in self.lines.values()
            ):
                raise Conflict("duplicate charge line", code="charge_reference_conflict")
        self.lines.update({line.id: line for line in lines})

    def charge_lines(self, stay_id: str, reference: str) -> list[ChargeLine]:
        """By line number."""
        found = [
            line
            for line in self.lines.values()
            if (line.stay_id, line.reference) == (stay_id, reference)
        ]
        return sorted(found, key=lambda line: line.line_no)

    def charges_of(self, stay_id: str) -> list[ChargeLine]:
        """By date, reference and line number."""
        found = [line for line in self.lines.values() if line.stay_id == stay_id]
        return sorted(found, key=lambda line: (line.service_date, line.reference, line.line_no))

    def add_check_in(self, check_in: BedsideCheckIn) -> None:
        """One a stay a day."""
        if any(
            (c.stay_id, c.day) == (check_in.stay_id, check_in.day) for c in self.check_ins.values()
        ):
            raise Conflict("checked in at the bed today already", code="bedside_checked_in")
        self.check_ins[check_in.id] = check_in

    def check_ins_of(self, stay_id: str) -> list[BedsideCheckIn]:
        """By day."""
        found = [c for c in self.check_ins.values() if c.stay_id == stay_id]
        return sorted(found, key=lambda c: c.day)

    def add_discharge(self, discharge: Discharge) -> None:
        """Store (unique key)."""
        if self.discharge_by_key(discharge.idempotency_key) is not None:
            raise Conflict("duplicate discharge key", code="idempotency_conflict")
        self.discharges[discharge.id] = discharge

    def save_discharge(self, discharge: Discharge) -> None:
        """Overwrite."""
        self.discharges[discharge.id] = discharge

    def discharges_of(self, stay_id: str) -> list[Discharge]:
        """Oldest first."""
        found = [d for d in self.discharges.values() if d.stay_id == stay_id]
        return sorted(found, key=lambda d: (d.created_at, d.id))

    def discharge_by_key(self, idempotency_key: str) -> Discharge | None:
        """By key."""
        return next(
            (d for d in self.discharges.values() if d.idempotency_key == idempotency_key), None
        )

    def discharge_by_reversal_key(self, reversal_key: str) -> Discharge | None:
        """By reversal key."""
        return next((d for d in self.discharges.values() if d.reversal_key == reversal_key), None)
