"""`SqlAlchemyHisMessageRepository`: HL7 v2 messages, HIS patient links and notify cursors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from facepay.adapters.db.tables import his_patients, hl7_cursors, hl7_messages
from facepay.services.his_messages import DuplicateMessage, HisPatient, Hl7Message


class SqlAlchemyHisMessageRepository:
    """The HL7 v2 interface's rows, in the unit of work's transaction."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def message(
        self, hospital_id: str, application: str, facility: str, control_id: str
    ) -> Hl7Message | None:
        """By key."""
        m = hl7_messages.c
        row = (
            self._c.execute(
                select(hl7_messages).where(
                    m.hospital_id == hospital_id,
                    m.sending_application == application,
                    m.sending_facility == facility,
                    m.control_id == control_id,
                )
            )
            .mappings()
            .first()
        )
        return Hl7Message(**row) if row is not None else None

    def add_message(self, message: Hl7Message) -> None:
        """Insert; a taken key (a concurrent copy committed first) is `DuplicateMessage`."""
        try:
            # No savepoint (it costs as much as the insert on SQLite): after a duplicate the
            # caller abandons the whole transaction and reads the winner's ACK in a new one.
            self._c.execute(insert(hl7_messages).values(**message.__dict__))
        except IntegrityError:
            raise DuplicateMessage("this message was received already") from None

    def prune_raw(self, *, before: datetime, limit: int) -> int:
        """Set the raw text of up to `limit` old messages to NULL."""
        m = hl7_messages.c
        ids = (
            select(m.id)
            .where(m.received_at < before, m.raw.is_not(None))
            .order_by(m.received_at)
            .limit(limit)
        )
        chosen = [row.id for row in self._c.execute(ids)]
        if not chosen:
            return 0
        self._c.execute(update(hl7_messages).where(m.id.in_(chosen)).values(raw=None))
        return len(chosen)

    def patient(self, hospital_id: str, his_patient_id: str) -> HisPatient | None:
        """By the site's patient id."""
        p = his_patients.c
        row = (
            self._c.execute(
                select(his_patients).where(
                    p.hospital_id == hospital_id, p.his_patient_id == his_patient_id
                )
            )
            .mappings()
            .first()
        )
        return HisPatient(**row) if row is not None else None

    def link_patient(self, link: HisPatient) -> None:
        """Update, or insert when there is no link yet."""
        p = his_patients.c
        done = self._c.execute(
            update(his_patients)
            .where(p.hospital_id == link.hospital_id, p.his_patient_id == link.his_patient_id)
            .values(person_id=link.person_id, updated_at=link.updated_at)
        )
        if done.rowcount == 0:
            self._c.execute(insert(his_patients).values(**link.__dict__))

    def patient_of_person(self, hospital_id: str, person_id: str) -> HisPatient | None:
        """The newest link of the person at the site."""
        p = his_patients.c
        row = (
            self._c.execute(
                select(his_patients)
                .where(p.hospital_id == hospital_id, p.person_id == person_id)
                .order_by(p.updated_at.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return HisPatient(**row) if row is not None else None

    def cursor(self, hospital_id: str, endpoint: str) -> int | None:
        """The cursor."""
        c = hl7_cursors.c
        seq = self._c.execute(
            select(c.seq).where(c.hospital_id == hospital_id, c.endpoint == endpoint)
        ).scalar_one_or_none()
        return int(seq) if seq is not None else None

    def move_cursor(self, hospital_id: str, endpoint: str, seq: int, at: datetime) -> None:
        """Forward only."""
        c = hl7_cursors.c
        done = self._c.execute(
            update(hl7_cursors)
            .where(c.hospital_id == hospital_id, c.endpoint == endpoint)
            .values(seq=seq, updated_at=at)
        )
        if done.rowcount == 0:
            self._c.execute(
                insert(hl7_cursors).values(
                    hospital_id=hospital_id, endpoint=endpoint, seq=seq, updated_at=at
                )
            )
