"""In-memory `HisMessageRepository` for the service tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from facepay.services.his_messages import DuplicateMessage, HisPatient, Hl7Message


class InMemoryHisMessageRepository:
    """Messages, links and cursors in dicts."""

    def __init__(self) -> None:
        self.messages: dict[tuple[str, str, str, str], Hl7Message] = {}
        self.patients: dict[tuple[str, str], HisPatient] = {}
        self.cursors: dict[tuple[str, str], int] = {}

    def message(
        self, hospital_id: str, application: str, facility: str, control_id: str
    ) -> Hl7Message | None:
        """By key."""
        return self.messages.get((hospital_id, application, facility, control_id))

    def add_message(self, message: Hl7Message) -> None:
        """Insert, refusing a taken key."""
        key = (
            message.hospital_id,
            message.sending_application,
            message.sending_facility,
            message.control_id,
        )
        if key in self.messages:
            raise DuplicateMessage("this message was received already")
        self.messages[key] = message

    def prune_raw(self, *, before: datetime, limit: int) -> int:
        """Drop old raw texts."""
        old = [k for k, m in self.messages.items() if m.raw is not None and m.received_at < before]
        for key in old[:limit]:
            self.messages[key] = replace(self.messages[key], raw=None)
        return len(old[:limit])

    def patient(self, hospital_id: str, his_patient_id: str) -> HisPatient | None:
        """By the site's patient id."""
        return self.patients.get((hospital_id, his_patient_id))

    def link_patient(self, link: HisPatient) -> None:
        """Upsert."""
        self.patients[(link.hospital_id, link.his_patient_id)] = link

    def patient_of_person(self, hospital_id: str, person_id: str) -> HisPatient | None:
        """The newest link of the person at the site."""
        links = [
            p
            for p in self.patients.values()
            if (p.hospital_id, p.person_id) == (hospital_id, person_id)
        ]
        return max(links, key=lambda p: p.updated_at, default=None)

    def cursor(self, hospital_id: str, endpoint: str) -> int | None:
        """The cursor."""
        return self.cursors.get((hospital_id, endpoint))

    def move_cursor(self, hospital_id: str, endpoint: str, seq: int, at: datetime) -> None:
        """Forward only."""
        key = (hospital_id, endpoint)
        self.cursors[key] = max(seq, self.cursors.get(key, 0))
