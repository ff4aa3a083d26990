"""What identity stores: insured persons, sealed face templates, consents, erasures and
identifications. Plain frozen records; persistence maps onto them in facepay.adapters.db."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from facepay.identity.id_card import Sex
from facepay.shared.errors import InvalidInput

IdentificationMethod = Literal["face", "second_factor", "credentials"]
IdentificationDecision = Literal["match", "ambiguous", "no_match"]


@dataclass(frozen=True)
class InsuredPerson:
    """A person in the insurance registry: coverage (category, assistance) and credentials."""

    id: str
    id_number: str
    name: str
    sex: Sex
    birth_date: date
    category: str
    insurance_card_number: str
    phone: str | None = None
    medical_assistance: bool = False

    def second_factor_matches(self, last4: str) -> bool:
        """True when `last4` is the last four characters of the phone or the ID number."""
        given = last4.strip().upper().encode()
        tails = [self.id_number[-4:]] + ([self.phone[-4:]] if self.phone else [])
        # compare_digest on every tail: the time taken does not say which one matched
        hits = [hmac.compare_digest(given, tail.upper().encode()) for tail in tails]
        return len(given) == 4 and any(hits)


@dataclass(frozen=True)
class TemplateRecord:
    """A face template sealed with AES-GCM (AD = template id + model version)."""

    id: str
    person_id: str
    hospital_id: str
    model_version: str
    sealed: bytes
    created_at: datetime
    quarantined_at: datetime | None = None
    """Set when the sealed bytes failed authentication: never matched, kept as evidence."""
    quarantine_reason: str | None = None
    scope: str = ""
    """Where it may match: `region:<id>` or `site:<id>` (facepay.hospital.tenants)."""

    @property
    def usable(self) -> bool:
        """Whether the template may be matched (not quarantined)."""
        return self.quarantined_at is None


@dataclass(frozen=True)
class BiometricConsent:
    """The separate consent PIPL requires before a face template is made."""

    purpose: str
    scope: str
    """The consent form's own words on where the face is used."""
    given_at: datetime
    recorded_by: str
    reach: Literal["region", "site"] | None = None
    """Where the template may be matched: every site of the region, or the enrolling site; None
    is the enrolling site's default (facepay.hospital.tenants.Hospital.default_reach)."""

    def __post_init__(self) -> None:
        for name in ("purpose", "scope", "recorded_by"):
            value = getattr(self, name)
            if not value.strip() or len(value) > 200 or not value.isprintable():
                raise InvalidInput(f"consent {name}: 1 to 200 printable characters")
        if self.reach not in ("region", "site", None):
            raise InvalidInput("consent reach: 'region' or 'site'", code="bad_reach")
        if self.given_at.tzinfo is None:
            raise InvalidInput("consent time must be timezone-aware")


@dataclass(frozen=True)
class ConsentRecord:
    """A stored consent of one person at one hospital; withdrawn once, never deleted."""

    id: str
    person_id: str
    hospital_id: str
    consent: BiometricConsent
    withdrawn_at: datetime | None = None
    withdrawn_by: str | None = None


@dataclass(frozen=True)
class ErasureRecord:
    """Who erased whose templates, when and how many: no biometric data."""

    id: str
    person_id: str
    hospital_id: str
    at: datetime
    by: str
    templates_deleted: int
    reason: str


@dataclass(frozen=True)
class IdentificationRecord:
    """An identification at one hospital: who (or which contenders), until when, used or not."""

    id: str
    hospital_id: str
    method: IdentificationMethod
    decision: IdentificationDecision
    person_id: str | None
    contenders: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    used_for: str | None = None
    failed_attempts: int = 0
