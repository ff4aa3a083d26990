"""Identify a patient: by face (liveness + 1:N), a second factor, or ID number + insurance card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from facepay.identity.records import IdentificationDecision, IdentificationMethod
from facepay.services.context import Services
from facepay.vision.liveness import Capture, Challenge


@dataclass(frozen=True)
class IdentificationResult:
    """The identification id to pay with; `person_id` on a match, `needs_second_factor` when
    ambiguous; the person's masked name and category for the screen."""

    identification_id: str
    decision: IdentificationDecision
    method: IdentificationMethod
    person_id: str | None
    needs_second_factor: bool
    expires_at: datetime
    display_name: str | None = None
    category: str | None = None


def start_liveness_challenge(*, ctx: Services) -> Challenge:
    """Issue a single-use active challenge for the next capture."""
    raise NotImplementedError


def identify(
    *, ctx: Services, hospital_id: str, actor: str, capture: Capture
) -> IdentificationResult:
    """Liveness, then 1:N among the hospital's enrolled faces, then the match decision."""
    raise NotImplementedError


def resolve_second_factor(
    *, ctx: Services, hospital_id: str, actor: str, identification_id: str, last4: str
) -> IdentificationResult:
    """Pick among an ambiguous identification's contenders by the last 4 of phone or ID number."""
    raise NotImplementedError


def identify_by_credentials(
    *, ctx: Services, hospital_id: str, actor: str, id_number: str, insurance_card_number: str
) -> IdentificationResult:
    """Identify without a face: ID number and insurance card number must both match."""
    raise NotImplementedError
