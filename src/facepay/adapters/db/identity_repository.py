"""Insured persons, sealed templates, consents, erasures and identifications on SQLAlchemy Core."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, RowMapping, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from facepay.adapters.db.ledger_repository import utc
from facepay.adapters.db.tables import (
    biometric_consents,
    erasures,
    face_templates,
    identifications,
    insured_persons,
    template_changes,
)
from facepay.identity.records import (
    BiometricConsent,
    ConsentRecord,
    ErasureRecord,
    IdentificationRecord,
    InsuredPerson,
    TemplateRecord,
)
from facepay.services.repositories import TemplateChange
from facepay.shared.errors import Conflict


def _person(row: RowMapping) -> InsuredPerson:
    return InsuredPerson(
        id=row["id"],
        id_number=row["id_number"],
        name=row["name"],
        sex="M" if row["sex"] == "M" else "F",
        birth_date=row["birth_date"],
        category=row["category"],
        insurance_card_number=row["insurance_card_number"],
        phone=row["phone"],
        medical_assistance=bool(row["medical_assistance"]),
    )


class SqlAlchemyPersonRepository:
    """The insurance registry table."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, person: InsuredPerson) -> None:
        """Insert; a registered ID number is a Conflict."""
        if self.by_id_number(person.id_number) is not None:
            raise Conflict("this ID number is registered already", code="already_registered")
        self._c.execute(insert(insured_persons).values(**person.__dict__))

    def get(self, person_id: str) -> InsuredPerson | None:
        """By id."""
        row = self._c.execute(select(insured_persons).where(insured_persons.c.id == person_id))
        found = row.mappings().first()
        return _person(found) if found else None

    def by_id_number(self, id_number: str) -> InsuredPerson | None:
        """By ID number."""
        query = select(insured_persons).where(insured_persons.c.id_number == id_number)
        found = self._c.execute(query).mappings().first()
        return _person(found) if found else None

    def get_many(self, person_ids: Sequence[str]) -> dict[str, InsuredPerson]:
        """Those that exist."""
        query = select(insured_persons).where(insured_persons.c.id.in_(list(person_ids)))
        return {r["id"]: _person(r) for r in self._c.execute(query).mappings()}


def _template(row: RowMapping) -> TemplateRecord:
    return TemplateRecord(
        id=row["id"],
        person_id=row["person_id"],
        hospital_id=row["hospital_id"],
        model_version=row["model_version"],
        sealed=bytes(row["sealed"]),
        created_at=utc(row["created_at"]),
        quarantined_at=utc(row["quarantined_at"]) if row["quarantined_at"] else None,
        quarantine_reason=row["quarantine_reason"],
        scope=row["scope"],
    )


class SqlAlchemyTemplateRepository:
    """Sealed templates."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, record: TemplateRecord) -> None:
        """Insert (one template per person, hospital and model: the constraint says so)."""
        if not record.scope:
            raise ValueError("a stored template needs its scope")
        try:
            with self._c.begin_nested():
                self._c.execute(insert(face_templates).values(**record.__dict__))
        except IntegrityError:
            raise Conflict("this person is enrolled already", code="already_enrolled") from None
        if record.usable:
            self._journal("add", [(record.id, record.scope, record.model_version)])

    def get_many(self, template_ids: Sequence[str]) -> dict[str, TemplateRecord]:
        """Those that exist."""
        query = select(face_templates).where(face_templates.c.id.in_(list(template_ids)))
        return {r["id"]: _template(r) for r in self._c.execute(query).mappings()}

    def of_person(self, person_id: str) -> list[TemplateRecord]:
        """A person's templates at every site."""
        query = select(face_templates).where(face_templates.c.person_id == person_id)
        return [
            _template(r) for r in self._c.execute(query.order_by(face_templates.c.id)).mappings()
        ]

    def delete(self, template_ids: Sequence[str]) -> int:
        """Delete rows, journalling the usable ones as removals."""
        t = face_templates
        wanted = list(template_ids)
        gone = self._c.execute(
            select(t.c.id, t.c.scope, t.c.model_version).where(
                t.c.id.in_(wanted), t.c.quarantined_at.is_(None)
            )
        ).all()
        count = int(self._c.execute(delete(t).where(t.c.id.in_(wanted))).rowcount)
        self._journal("remove", [(r.id, r.scope, r.model_version) for r in gone])
        return count

    def scopes(self, model_version: str) -> dict[str, str]:
        """Usable ids of one model and their scopes."""
        t = face_templates
        query = select(t.c.id, t.c.scope).where(
            t.c.model_version == model_version, t.c.quarantined_at.is_(None)
        )
        return {row.id: row.scope for row in self._c.execute(query)}

    def quarantine(self, template_id: str, *, at: datetime, reason: str) -> None:
        """Mark the row quarantined (a removal in the journal)."""
        t = face_templates
        found = self._c.execute(
            update(t)
            .where(t.c.id == template_id, t.c.quarantined_at.is_(None))
            .values(quarantined_at=at, quarantine_reason=reason[:200])
            .returning(t.c.scope, t.c.model_version)
        ).first()
        if found is not None:
            self._journal("remove", [(template_id, found.scope, found.model_version)])

    def changes_after(self, seq: int, *, limit: int) -> list[TemplateChange]:
        """Journal entries above `seq`, oldest first."""
        j = template_changes
        query = select(j).where(j.c.seq > seq).order_by(j.c.seq).limit(limit)
        return [
            TemplateChange(r.seq, r.template_id, r.op, r.scope, r.model_version, utc(r.at))
            for r in self._c.execute(query)
        ]

    def last_change(self) -> int:
        """The highest journal sequence number."""
        return int(self._c.execute(select(func.max(template_changes.c.seq))).scalar() or 0)

    def _journal(self, op: str, rows: list[tuple[str, str, str]]) -> None:
        if rows:
            at = datetime.now(UTC)
            self._c.execute(
                insert(template_changes),
                [
                    {"template_id": i, "op": op, "scope": s, "model_version": v, "at": at}
                    for i, s, v in rows
                ],
            )

    def iterate(self, model_version: str) -> Iterator[TemplateRecord]:
        """Templates of one model, in id order."""
        query = (
            select(face_templates)
            .where(face_templates.c.model_version == model_version)
            .order_by(face_templates.c.id)
        )
        return iter([_template(r) for r in self._c.execute(query).mappings()])


def _consent(row: RowMapping) -> ConsentRecord:
    return ConsentRecord(
        id=row["id"],
        person_id=row["person_id"],
        hospital_id=row["hospital_id"],
        consent=BiometricConsent(
            row["purpose"],
            row["scope"],
            utc(row["given_at"]),
            row["recorded_by"],
            reach="region" if row["reach"] == "region" else "site",
        ),
        withdrawn_at=utc(row["withdrawn_at"]) if row["withdrawn_at"] else None,
        withdrawn_by=row["withdrawn_by"],
    )


class SqlAlchemyConsentRepository:
    """Consents and erasures."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, record: ConsentRecord) -> None:
        """Insert."""
        c = record.consent
        self._c.execute(
            insert(biometric_consents).values(
                id=record.id,
                person_id=record.person_id,
                hospital_id=record.hospital_id,
                purpose=c.purpose,
                scope=c.scope,
                reach=c.reach,
                given_at=c.given_at,
                recorded_by=c.recorded_by,
                withdrawn_at=record.withdrawn_at,
                withdrawn_by=record.withdrawn_by,
            )
        )

    def active(self, person_id: str, hospital_id: str) -> list[ConsentRecord]:
        """Not withdrawn."""
        t = biometric_consents
        query = select(t).where(
            t.c.person_id == person_id, t.c.hospital_id == hospital_id, t.c.withdrawn_at.is_(None)
        )
        return [_consent(r) for r in self._c.execute(query.order_by(t.c.given_at)).mappings()]

    def active_of_person(self, person_id: str) -> list[ConsentRecord]:
        """Not withdrawn, at any site."""
        t = biometric_consents
        query = select(t).where(t.c.person_id == person_id, t.c.withdrawn_at.is_(None))
        return [_consent(r) for r in self._c.execute(query.order_by(t.c.given_at)).mappings()]

    def withdraw(self, consent_id: str, *, at: datetime, by: str) -> None:
        """Mark withdrawn."""
        t = biometric_consents
        self._c.execute(
            update(t).where(t.c.id == consent_id).values(withdrawn_at=at, withdrawn_by=by)
        )

    def add_erasure(self, record: ErasureRecord) -> None:
        """Insert."""
        self._c.execute(insert(erasures).values(**record.__dict__))

    def erasures(self, person_id: str, hospital_id: str) -> list[ErasureRecord]:
        """Oldest first."""
        query = select(erasures).where(
            erasures.c.person_id == person_id, erasures.c.hospital_id == hospital_id
        )
        rows = self._c.execute(query.order_by(erasures.c.at)).mappings()
        return [ErasureRecord(**{**dict(r), "at": utc(r["at"])}) for r in rows]


def _identification(row: RowMapping) -> IdentificationRecord:
    def when(value: datetime | None) -> datetime | None:
        return utc(value) if value else None

    return IdentificationRecord(
        id=row["id"],
        hospital_id=row["hospital_id"],
        method=row["method"],
        decision=row["decision"],
        person_id=row["person_id"],
        contenders=tuple(json.loads(row["contenders"])),
        created_at=utc(row["created_at"]),
        expires_at=utc(row["expires_at"]),
        used_at=when(row["used_at"]),
        used_for=row["used_for"],
        failed_attempts=row["failed_attempts"],
    )


class SqlAlchemyIdentificationRepository:
    """Identifications."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def _values(self, record: IdentificationRecord) -> dict[str, object]:
        return {**record.__dict__, "contenders": json.dumps(list(record.contenders))}

    def add(self, record: IdentificationRecord) -> None:
        """Insert."""
        self._c.execute(insert(identifications).values(**self._values(record)))

    def get(self, identification_id: str, hospital_id: str) -> IdentificationRecord | None:
        """Within the hospital; FOR UPDATE so that two payments cannot both use it."""
        t = identifications
        query = (
            select(t)
            .where(t.c.id == identification_id, t.c.hospital_id == hospital_id)
            .with_for_update()
        )
        found = self._c.execute(query).mappings().first()
        return _identification(found) if found else None

    def save(self, record: IdentificationRecord) -> None:
        """Overwrite."""
        t = identifications
        self._c.execute(update(t).where(t.c.id == record.id).values(**self._values(record)))
