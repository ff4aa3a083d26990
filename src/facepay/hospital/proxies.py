"""Guardians and proxies: a person registered to act for a patient, for some acts, for a time.

A child's parent, a frail patient's carer or a court-appointed guardian may pay, collect medicine
or check in for the patient by their own identity (their own face or card): never the patient's.
A grant names both persons, the acts it covers, its basis and how long it lasts:

- `patient_consent`: the patient, an adult, consents in person (their own identification at the
  registering site), for at most `MAX_CONSENT_DAYS`.
- `parent_of_minor`: the patient is under 18; the grant ends on the 18th birthday at the latest
  and names the evidence of parenthood (household register or birth certificate number).
- `court_order`: the patient cannot consent; the grant names the court order, for at most
  `MAX_COURT_DAYS` (a guardianship is reviewed; register it again after a renewal).

The proxy is always identified in person when the grant is registered. A grant is the
region's: it holds at every site, since a patient's carer goes with them wherever they are
treated. It ends when it expires or is revoked; nothing else revives it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from facepay.shared.errors import InvalidInput

ProxyAct = Literal["pay", "collect", "check_in"]
PROXY_ACTS: tuple[ProxyAct, ...] = ("pay", "collect", "check_in")
"""Pay the patient's bills, collect their medicine, check them in (clinic, exam, ward, bed)."""
Basis = Literal["patient_consent", "parent_of_minor", "court_order"]
BASES: tuple[Basis, ...] = ("patient_consent", "parent_of_minor", "court_order")
Relation = Literal["parent", "guardian", "spouse", "child", "relative", "carer"]
RELATIONS: tuple[Relation, ...] = ("parent", "guardian", "spouse", "child", "relative", "carer")
ADULT_AGE = 18
MAX_CONSENT_DAYS = 366
MAX_COURT_DAYS = 3 * 366
MAX_EVIDENCE = 100


@dataclass(frozen=True)
class ProxyGrant:
    """`proxy_id` may do `acts` for `patient_id` from `valid_from` until `valid_until`."""

    id: str
    patient_id: str
    proxy_id: str
    relation: Relation
    basis: Basis
    acts: frozenset[ProxyAct]
    valid_from: datetime
    valid_until: datetime
    hospital_id: str
    """The site where it was registered (grants hold at every site of the region)."""
    created_by: str
    evidence_ref: str | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def __post_init__(self) -> None:
        if self.patient_id == self.proxy_id:
            raise InvalidInput("a person cannot be their own proxy", code="self_proxy")
        if self.relation not in RELATIONS:
            raise InvalidInput(f"relation: one of {', '.join(RELATIONS)}", code="bad_relation")
        if self.basis not in BASES:
            raise InvalidInput(f"basis: one of {', '.join(BASES)}", code="bad_basis")
        if not self.acts or not self.acts <= set(PROXY_ACTS):
            raise InvalidInput(f"acts: some of {', '.join(PROXY_ACTS)}", code="bad_acts")
        if self.valid_until <= self.valid_from:
            raise InvalidInput("valid_until must come after valid_from", code="bad_period")
        evidence = self.evidence_ref
        if evidence is not None and (
            not evidence.strip() or len(evidence) > MAX_EVIDENCE or not evidence.isprintable()
        ):
            raise InvalidInput(
                f"evidence_ref: 1 to {MAX_EVIDENCE} printable characters", code="bad_evidence"
            )

    def status(self, now: datetime) -> Literal["active", "revoked", "expired", "pending"]:
        """Where the grant stands at `now`."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if now >= self.valid_until:
            return "expired"
        if now < self.valid_from:
            return "pending"
        return "active"

    def covers(self, act: ProxyAct, now: datetime) -> bool:
        """Whether the proxy may do `act` for the patient at `now`."""
        return act in self.acts and self.status(now) == "active"


def age_on(birth_date: date, day: date) -> int:
    """Whole years of age on `day`."""
    years = day.year - birth_date.year
    return years - ((day.month, day.day) < (birth_date.month, birth_date.day))


def eighteenth_birthday(birth_date: date) -> date:
    """The day a person comes of age (29 February births: 1 March in a common year)."""
    try:
        return birth_date.replace(year=birth_date.year + ADULT_AGE)
    except ValueError:
        return date(birth_date.year + ADULT_AGE, 3, 1)


def check_grant(
    *,
    basis: Basis,
    patient_birth_date: date,
    patient_present: bool,
    evidence_ref: str | None,
    valid_from: datetime,
    valid_until: datetime,
) -> None:
    """The rules of each basis, before a grant is stored (see the module doc)."""
    today = valid_from.date()
    minor = age_on(patient_birth_date, today) < ADULT_AGE
    if basis == "patient_consent":
        if minor:
            raise InvalidInput(
                "a minor cannot consent: register the parent or the guardian's court order",
                code="patient_is_minor",
            )
        if not patient_present:
            raise InvalidInput(
                "the patient must consent in person: identify the patient too",
                code="patient_consent_missing",
            )
        longest = timedelta(days=MAX_CONSENT_DAYS)
    elif basis == "parent_of_minor":
        if not minor:
            raise InvalidInput("the patient is an adult", code="patient_not_minor")
        coming_of_age = eighteenth_birthday(patient_birth_date)
        if valid_until.date() > coming_of_age:
            raise InvalidInput(
                f"a parent's grant ends on the 18th birthday ({coming_of_age}) at the latest",
                code="grant_too_long",
            )
        longest = valid_until - valid_from
    else:
        longest = timedelta(days=MAX_COURT_DAYS)
    if basis != "patient_consent" and not evidence_ref:
        raise InvalidInput(
            "name the evidence: the court order or household register number",
            code="evidence_missing",
        )
    if valid_until - valid_from > longest:
        raise InvalidInput(
            f"a {basis} grant lasts at most {longest.days} days", code="grant_too_long"
        )


def best_grant(grants: Iterable[ProxyGrant], act: ProxyAct, now: datetime) -> ProxyGrant | None:
    """A grant that covers `act` now (the one lasting longest), or None."""
    live = [g for g in grants if g.covers(act, now)]
    return max(live, key=lambda g: (g.valid_until, g.id)) if live else None
