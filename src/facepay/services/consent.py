"""Withdraw biometric consent: erase the person's templates (database and gallery), record it."""

from __future__ import annotations

from dataclasses import dataclass

from facepay.identity.records import ErasureRecord
from facepay.services.context import Services


@dataclass(frozen=True)
class Erasure:
    """What was erased; the person can still pay by ID number + insurance card."""

    record: ErasureRecord
    consents_withdrawn: int


def withdraw_consent(
    *, ctx: Services, hospital_id: str, actor: str, person_id: str, reason: str = "withdrawn"
) -> Erasure:
    """Withdraw consent and erase every face template of the person at the hospital."""
    raise NotImplementedError
