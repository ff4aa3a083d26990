"""Enrol a patient: ID card + live capture + biometric consent -> one sealed face template."""

from __future__ import annotations

from dataclasses import dataclass

from facepay.identity.id_card import IdCard
from facepay.identity.records import BiometricConsent
from facepay.services.context import Services
from facepay.vision.liveness import Capture


@dataclass(frozen=True)
class Enrolment:
    """The enrolled person (insured person id), their template id and consent id."""

    person_id: str
    template_id: str
    consent_id: str
    category: str
    verify_score: float


def enrol_patient(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    id_card: IdCard,
    chip_photo: bytes,
    capture: Capture,
    consent: BiometricConsent,
) -> Enrolment:
    """Check liveness and the face against the ID photo, refuse duplicates, store the template."""
    raise NotImplementedError
