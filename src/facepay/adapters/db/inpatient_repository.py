"""`InpatientRepository` on SQLAlchemy Core: stays, deposits, charge lines, bedside check-ins
and discharges. The partial unique indexes of migration 0017 decide the admission races; a lost
race is told apart by reading which rule the winner took (a new statement sees its commit)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Executable, RowMapping, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from facepay.adapters.db.ledger_repository import utc
from facepay.adapters.db.tables import (
    inpatient_bedside,
    inpatient_charges,
    inpatient_deposits,
    inpatient_discharges,
    inpatient_stays,
)
from facepay.hospital.inpatient import (
    BedsideCheckIn,
    ChargeLine,
    Deposit,
    Diagnosis,
    Discharge,
    Stay,
)
from facepay.shared.errors import Conflict


def _when(value: datetime | None) -> datetime | None:
    return utc(value) if value is not None else None


def _stay(row: RowMapping) -> Stay:
    return Stay(
        id=row["id"],
        hospital_id=row["hospital_id"],
        person_id=row["person_id"],
        ward=row["ward"],
        bed=row["bed"],
        diagnosis=Diagnosis(row["diagnosis_code"], row["diagnosis_text"]),
        attending_doctor_id=row["attending_doctor_id"],
        hospital_tier=row["hospital_tier"],
        admitted_on=row["admitted_on"],
        admitted_at=utc(row["admitted_at"]),
        admitted_by=row["admitted_by"],
        identification_id=row["identification_id"],
        status=row["status"],
        discharged_at=_when(row["discharged_at"]),
        low_deposit_alerted=bool(row["low_deposit_alerted"]),
    )


def _stay_values(stay: Stay) -> dict[str, Any]:
    values = {k: v for k, v in stay.__dict__.items() if k != "diagnosis"}
    return {**values, "diagnosis_code": stay.diagnosis.code, "diagnosis_text": stay.diagnosis.text}


def _deposit(row: RowMapping) -> Deposit:
    return Deposit(**{**row, "created_at": utc(row["created_at"])})


def _line(row: RowMapping) -> ChargeLine:
    values = {k: v for k, v in row.items() if k != "amount"}
    return ChargeLine(
        **{**values, "quantity": Decimal(row["quantity"]), "created_at": utc(row["created_at"])}
    )


def _check_in(row: RowMapping) -> BedsideCheckIn:
    return BedsideCheckIn(**{**row, "at": utc(row["at"])})


def _discharge(row: RowMapping) -> Discharge:
    return Discharge(
        **{**row, "created_at": utc(row["created_at"]), "reversed_at": _when(row["reversed_at"])}
    )


class SqlAlchemyInpatientRepository:
    """Inpatient stays and what is recorded on them."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def _rows(self, table: Table, *where: Any, order: Sequence[Any] = ()) -> list[RowMapping]:
        return list(self._c.execute(select(table).where(*where).order_by(*order)).mappings())

    def _refused(self, statement: Executable) -> bool:
        """Run `statement` in a savepoint; True when a unique rule refused it. The caller
        raises its Conflict outside the `except`: one raised inside would carry the driver's
        error as its context, which the unit of work turns into StorageBusy."""
        try:
            with self._c.begin_nested():
                self._c.execute(statement)
        except IntegrityError:
            return True
        return False

    def _open_rule_broken(self, stay: Stay) -> Conflict:
        """Which open-stay rule a refused write broke (read after the winner committed)."""
        other = self.open_stay_of_person(stay.person_id)
        if other is not None and other.id != stay.id:
            return Conflict("the patient is admitted already", code="already_admitted")
        return Conflict(f"bed {stay.ward}/{stay.bed} holds another patient", code="bed_occupied")

    def add_stay(self, stay: Stay) -> None:
        """Insert; the partial unique indexes refuse a second open stay of a person or bed."""
        if not self._refused(insert(inpatient_stays).values(**_stay_values(stay))):
            return
        raise self._open_rule_broken(stay)

    def stay(self, stay_id: str, hospital_id: str) -> Stay | None:
        """Within the hospital; FOR UPDATE."""
        t = inpatient_stays
        query = select(t).where(t.c.id == stay_id, t.c.hospital_id == hospital_id)
        found = self._c.execute(query.with_for_update()).mappings().first()
        return _stay(found) if found else None

    def open_stay_of_person(self, person_id: str) -> Stay | None:
        """At any site."""
        t = inpatient_stays
        rows = self._rows(t, t.c.person_id == person_id, t.c.status == "admitted")
        return _stay(rows[0]) if rows else None

    def open_stay_in_bed(self, hospital_id: str, ward: str, bed: str) -> Stay | None:
        """In this bed."""
        t = inpatient_stays
        rows = self._rows(
            t,
            t.c.hospital_id == hospital_id,
            t.c.ward == ward,
            t.c.bed == bed,
            t.c.status == "admitted",
        )
        return _stay(rows[0]) if rows else None

    def save_stay(self, stay: Stay) -> None:
        """Update status, discharge time and alert flag (reopening is checked like an insert)."""
        t = inpatient_stays
        values = {
            "status": stay.status,
            "discharged_at": stay.discharged_at,
            "low_deposit_alerted": stay.low_deposit_alerted,
        }
        if self._refused(update(t).where(t.c.id == stay.id).values(**values)):
            raise self._open_rule_broken(stay)

    def add_deposit(self, deposit: Deposit) -> None:
        """Insert (the key is unique: a concurrent twin loses with StorageBusy, then replays)."""
        self._c.execute(insert(inpatient_deposits).values(**deposit.__dict__))

    def deposit_by_key(self, idempotency_key: str) -> Deposit | None:
        """By key."""
        t = inpatient_deposits
        rows = self._rows(t, t.c.idempotency_key == idempotency_key)
        return _deposit(rows[0]) if rows else None

    def deposits_of(self, stay_id: str) -> list[Deposit]:
        """Oldest first."""
        t = inpatient_deposits
        rows = self._rows(t, t.c.stay_id == stay_id, order=(t.c.created_at, t.c.id))
        return [_deposit(r) for r in rows]

    def save_deposit(self, deposit: Deposit) -> None:
        """Update the hold, the applied and the returned amounts."""
        t = inpatient_deposits
        self._c.execute(
            update(t)
            .where(t.c.id == deposit.id)
            .values(hold_id=deposit.hold_id, applied=deposit.applied, returned=deposit.returned)
        )

    def add_charge_lines(self, lines: Sequence[ChargeLine]) -> None:
        """Insert the lines of one reference, in one statement."""
        rows = [
            {**line.__dict__, "quantity": str(line.quantity), "amount": line.amount}
            for line in lines
        ]
        self._c.execute(insert(inpatient_charges), rows)

    def charge_lines(self, stay_id: str, reference: str) -> list[ChargeLine]:
        """By line number."""
        t = inpatient_charges
        rows = self._rows(
            t, t.c.stay_id == stay_id, t.c.reference == reference, order=(t.c.line_no,)
        )
        return [_line(r) for r in rows]

    def charges_of(self, stay_id: str) -> list[ChargeLine]:
        """By date, reference and line number."""
        t = inpatient_charges
        order = (t.c.service_date, t.c.reference, t.c.line_no)
        return [_line(r) for r in self._rows(t, t.c.stay_id == stay_id, order=order)]

    def add_check_in(self, check_in: BedsideCheckIn) -> None:
        """Insert; (stay, day) is unique."""
        if self._refused(insert(inpatient_bedside).values(**check_in.__dict__)):
            raise Conflict(
                "the patient was checked in at the bed today already", code="bedside_checked_in"
            )

    def check_ins_of(self, stay_id: str) -> list[BedsideCheckIn]:
        """By day."""
        t = inpatient_bedside
        return [_check_in(r) for r in self._rows(t, t.c.stay_id == stay_id, order=(t.c.day,))]

    def add_discharge(self, discharge: Discharge) -> None:
        """Insert (the key is unique)."""
        self._c.execute(insert(inpatient_discharges).values(**discharge.__dict__))

    def save_discharge(self, discharge: Discharge) -> None:
        """Update status and reversal."""
        t = inpatient_discharges
        self._c.execute(
            update(t)
            .where(t.c.id == discharge.id)
            .values(
                status=discharge.status,
                reversal_key=discharge.reversal_key,
                reversed_at=discharge.reversed_at,
            )
        )

    def discharges_of(self, stay_id: str) -> list[Discharge]:
        """Oldest first."""
        t = inpatient_discharges
        rows = self._rows(t, t.c.stay_id == stay_id, order=(t.c.created_at, t.c.id))
        return [_discharge(r) for r in rows]

    def discharge_by_key(self, idempotency_key: str) -> Discharge | None:
        """By key."""
        t = inpatient_discharges
        rows = self._rows(t, t.c.idempotency_key == idempotency_key)
        return _discharge(rows[0]) if rows else None

    def discharge_by_reversal_key(self, reversal_key: str) -> Discharge | None:
        """By reversal key."""
        t = inpatient_discharges
        rows = self._rows(t, t.c.reversal_key == reversal_key)
        return _discharge(rows[0]) if rows else None
