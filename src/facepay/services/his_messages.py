"""What the HL7 v2 interface keeps: each inbound message (deduplicated on MSH-10 per site and
sender, with the ACK it was answered with), the hospital system's patient ids linked to insured
persons, and the notifier's cursor into the site's event feed (facepay.services.his_events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from facepay.services.ports import StorageBusy

MessageStatus = Literal["applied", "error", "rejected"]


class DuplicateMessage(StorageBusy):
    """The message's key (site, sender, MSH-10) is stored already: answer with its ACK."""

    code = "hl7_duplicate"


@dataclass(frozen=True)
class Hl7Message:
    """One inbound message as received and answered."""

    id: str
    hospital_id: str
    sending_application: str
    sending_facility: str
    control_id: str
    message_type: str
    received_at: datetime
    status: MessageStatus
    ack_code: str
    ack: str
    """The ACK sent, as text: a repeat of the message gets exactly this again."""
    error: str | None
    raw: str | None
    """The message as received; patient data, so dropped after `hl7_raw_retention_days`."""


@dataclass(frozen=True)
class HisPatient:
    """A hospital system's patient id (PID-3, type MR) at one site, and whose it is."""

    hospital_id: str
    his_patient_id: str
    person_id: str
    linked_at: datetime
    updated_at: datetime


class HisMessageRepository(Protocol):
    """Inbound messages, patient links and notification cursors (per site throughout)."""

    def message(
        self, hospital_id: str, application: str, facility: str, control_id: str
    ) -> Hl7Message | None:
        """A message already received under this key."""

    def add_message(self, message: Hl7Message) -> None:
        """Store a new message; `DuplicateMessage` if its key is taken."""

    def prune_raw(self, *, before: datetime, limit: int) -> int:
        """Drop the raw text of up to `limit` messages received before `before`; how many."""

    def patient(self, hospital_id: str, his_patient_id: str) -> HisPatient | None:
        """The link of a hospital system's patient id."""

    def link_patient(self, link: HisPatient) -> None:
        """Create or replace the link of `link.his_patient_id` at the site."""

    def patient_of_person(self, hospital_id: str, person_id: str) -> HisPatient | None:
        """The newest link of a person at the site (what a notification names them by)."""

    def cursor(self, hospital_id: str, endpoint: str) -> int | None:
        """How far notifications to `endpoint` were acknowledged (None: never started)."""

    def move_cursor(self, hospital_id: str, endpoint: str, seq: int, at: datetime) -> None:
        """Record that every event up to `seq` was acknowledged by `endpoint`."""
