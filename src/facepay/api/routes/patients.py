"""Patients at the kiosk or the desk: liveness challenge, enrolment, identification, consent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import Field

from facepay.access.rbac import Permission, Principal
from facepay.api.access import may
from facepay.api.deps import StateDep
from facepay.api.images import CaptureLimits, capture_from, checked_photo
from facepay.api.problems import errors
from facepay.api.routes.admin import IdCardCreate
from facepay.api.schemas import (
    Base64Image,
    CaptureCreate,
    ChallengeRead,
    ChallengeStepRead,
    Id,
    PlainText,
    RequestModel,
    ResponseModel,
)
from facepay.identity.records import BiometricConsent
from facepay.services import consent as consent_service
from facepay.services import coverage as coverage_service
from facepay.services import enrolment, identification, support
from facepay.services.identification import IdentificationResult
from facepay.services.support import LivenessRefused
from facepay.vision.liveness import Capture, TerminalCapabilities
from facepay.vision.liveness.challenge import PROMPTS

router = APIRouter(prefix="/v1", tags=["patients"])
Text = Annotated[PlainText, Field(min_length=1, max_length=200)]


class ConsentCreate(RequestModel):
    """The separate biometric consent: purpose, the form's words on scope, when, and its reach
    (`region`: pay by face at every site of the region; `site`: at this site only; left out:
    the site's default, the region at the bureau's service centres, this site elsewhere); the
    recorder is the caller."""

    purpose: Text
    scope: Text
    given_at: datetime
    reach: Literal["region", "site"] | None = None


class EnrolmentCreate(RequestModel):
    """ID card + chip photo + live capture + consent."""

    id_card: IdCardCreate
    chip_photo: Base64Image
    capture: CaptureCreate
    consent: ConsentCreate


class EnrolmentRead(ResponseModel):
    """The enrolled person, template and consent ids, and the 1:1 score against the chip photo."""

    person_id: str
    template_id: str
    consent_id: str
    category: str
    verify_score: float
    scope: str
    """Where the face may be matched: `region:<id>` or `site:<id>`."""


class IdentificationCreate(RequestModel):
    """A capture answering a challenge from POST /v1/liveness/challenges."""

    capture: CaptureCreate


class VerificationCreate(RequestModel):
    """A capture to compare 1:1 with the persons a step expects: the patient it is for, and at
    most a few of their proxies (from the appointment, order or stay the terminal shows)."""

    capture: CaptureCreate
    person_ids: Annotated[list[Id], Field(min_length=1, max_length=5)]


class CredentialIdentificationCreate(RequestModel):
    """Identification without a face: ID number and insurance card number."""

    id_number: Annotated[str, Field(min_length=18, max_length=18, pattern=r"^\d{17}[\dXx]$")]
    insurance_card_number: Annotated[PlainText, Field(min_length=4, max_length=40)]


class SecondFactorCreate(RequestModel):
    """The last four characters of the patient's phone or ID number."""

    last4: Annotated[str, Field(pattern=r"^[0-9]{3}[0-9Xx]$")]


class IdentificationRead(ResponseModel):
    """Who is in front of the terminal (masked), or that a second factor is needed."""

    identification_id: str
    decision: Literal["match", "ambiguous", "no_match"]
    method: Literal["face", "second_factor", "credentials"]
    person_id: str | None
    needs_second_factor: bool
    expires_at: datetime
    display_name: str | None = None
    category: str | None = None


class ConsentWithdrawalCreate(RequestModel):
    """Why the consent is withdrawn."""

    reason: Annotated[PlainText, Field(min_length=1, max_length=200)] = "withdrawn"


class ConsentWithdrawalRead(ResponseModel):
    """The erasure: templates deleted (database and gallery), consents withdrawn."""

    erasure_id: str
    person_id: str
    templates_deleted: int
    consents_withdrawn: int
    at: datetime


def capture_limits(state: StateDep) -> CaptureLimits:
    """The capture limits in force."""
    s = state.services.settings
    return CaptureLimits(
        max_frames=s.api_max_frames,
        max_image_pixels=s.api_max_image_pixels,
        max_source_pixels=s.api_max_capture_source_pixels,
        max_kept_pixels=s.api_max_capture_kept_pixels,
        max_side=s.detect_max_side,
    )


def decoded_capture(state: StateDep, who: Principal, body: CaptureCreate) -> Capture:
    """The capture, once its challenge and every limit have passed (no pixel decoded before)."""
    last = max((frame.t for frame in body.frames), default=0.0)
    support.require_fresh_challenge(
        state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        nonce=body.challenge_nonce,
        started_at=body.started_at,
        ended_at=body.started_at + timedelta(seconds=last),
        capabilities=TerminalCapabilities(),
    )
    return capture_from(body, capture_limits(state))


@contextmanager
def counted_liveness(state: StateDep, *, identification: bool = True) -> Iterator[None]:
    """Count the liveness outcome (and a refused identification) of the block."""
    try:
        yield
    except LivenessRefused as refused:
        decision = refused.decision
        attack = decision.attack.value if decision.attack else "none"
        state.metrics.liveness.labels(decision.decision.value, attack).inc()
        if identification:
            state.metrics.identifications.labels(decision.decision.value).inc()
        raise
    state.metrics.liveness.labels("live", "none").inc()


def _read(result: IdentificationResult, state: StateDep) -> IdentificationRead:
    state.metrics.identifications.labels(result.decision).inc()
    return IdentificationRead.model_validate(result)


@router.post(
    "/liveness/challenges",
    status_code=status.HTTP_201_CREATED,
    response_model=ChallengeRead,
    responses=errors(401, 403, 429),
)
def issue_challenge(
    state: StateDep, who: Annotated[Principal, may(Permission.PATIENT_IDENTIFY)]
) -> ChallengeRead:
    """A single-use active challenge (actions and time windows) for the next capture."""
    challenge = identification.start_liveness_challenge(ctx=state.services)
    return ChallengeRead(
        nonce=challenge.nonce,
        issued_at=challenge.issued_at,
        expires_at=challenge.expires_at,
        steps=[
            ChallengeStepRead(
                action=s.action.value, prompt=PROMPTS[s.action], start=s.start, end=s.end
            )
            for s in challenge.steps
        ],
    )


@router.post(
    "/enrolments",
    status_code=status.HTTP_201_CREATED,
    response_model=EnrolmentRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429),
)
def enrol(
    body: EnrolmentCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PATIENT_ENROL, Permission.CONSENT_RECORD)],
) -> EnrolmentRead:
    """Enrol a patient's face: liveness, 1:1 against the chip photo, 1:N duplicate check."""
    settings = state.services.settings
    photo = checked_photo(
        body.chip_photo, max_pixels=settings.api_max_image_pixels, what="chip photo"
    )
    with counted_liveness(state, identification=False):
        capture = decoded_capture(state, who, body.capture)
        result = enrolment.enrol_patient(
            ctx=state.services,
            hospital_id=who.hospital,
            actor=who.actor,
            id_card=body.id_card.to_domain(),
            chip_photo=photo,
            capture=capture,
            consent=BiometricConsent(
                purpose=body.consent.purpose,
                scope=body.consent.scope,
                given_at=body.consent.given_at,
                recorded_by=who.actor,
                reach=body.consent.reach,
            ),
        )
    return EnrolmentRead.model_validate(result)


@router.post(
    "/identifications",
    status_code=status.HTTP_201_CREATED,
    response_model=IdentificationRead,
    responses=errors(401, 403, 413, 422, 429),
)
def identify(
    body: IdentificationCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PATIENT_IDENTIFY)],
) -> IdentificationRead:
    """Liveness + 1:N among this hospital's enrolled patients."""
    with counted_liveness(state):
        capture = decoded_capture(state, who, body.capture)
        result = identification.identify(
            ctx=state.services, hospital_id=who.hospital, actor=who.actor, capture=capture
        )
    return _read(result, state)


@router.post(
    "/identifications/verify",
    status_code=status.HTTP_201_CREATED,
    response_model=IdentificationRead,
    responses=errors(401, 403, 413, 422, 429),
)
def verify(
    body: VerificationCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PATIENT_IDENTIFY)],
) -> IdentificationRead:
    """Liveness + 1:1 against the named persons' faces that may match at this hospital; the
    identification is then used by the step (check-in, pick-up, bedside) like any other."""
    with counted_liveness(state):
        capture = decoded_capture(state, who, body.capture)
        result = identification.verify(
            ctx=state.services,
            hospital_id=who.hospital,
            actor=who.actor,
            capture=capture,
            person_ids=body.person_ids,
        )
    return _read(result, state)


@router.post(
    "/identifications/by-credentials",
    status_code=status.HTTP_201_CREATED,
    response_model=IdentificationRead,
    responses=errors(401, 403, 404, 413, 422, 429),
)
def identify_by_credentials(
    body: CredentialIdentificationCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PATIENT_IDENTIFY)],
) -> IdentificationRead:
    """Identify without a face (face payment is never the only way)."""
    result = identification.identify_by_credentials(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        id_number=body.id_number,
        insurance_card_number=body.insurance_card_number,
    )
    return _read(result, state)


@router.post(
    "/identifications/{identification_id}/second-factor",
    response_model=IdentificationRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429),
)
def second_factor(
    identification_id: Id,
    body: SecondFactorCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PATIENT_IDENTIFY)],
) -> IdentificationRead:
    """Resolve an ambiguous identification among its candidates only."""
    result = identification.resolve_second_factor(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        identification_id=identification_id,
        last4=body.last4,
    )
    return _read(result, state)


@router.post(
    "/patients/{person_id}/consent-withdrawals",
    status_code=status.HTTP_201_CREATED,
    response_model=ConsentWithdrawalRead,
    responses=errors(401, 403, 404, 413, 422, 429),
)
def withdraw_consent(
    person_id: Id,
    body: ConsentWithdrawalCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.CONSENT_WITHDRAW)],
) -> ConsentWithdrawalRead:
    """Withdraw biometric consent: the face templates are erased at this hospital."""
    erasure = consent_service.withdraw_consent(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        person_id=person_id,
        reason=body.reason,
    )
    return ConsentWithdrawalRead(
        erasure_id=erasure.record.id,
        person_id=erasure.record.person_id,
        templates_deleted=erasure.record.templates_deleted,
        consents_withdrawn=erasure.consents_withdrawn,
        at=erasure.record.at,
    )


class AccumulatorsRead(ResponseModel):
    """A person's year-to-date totals in fen (the national platform's running sums)."""

    year: int
    outpatient_deductible_used: int
    outpatient_eligible: int
    outpatient_fund_paid: int
    inpatient_admissions: int
    inpatient_eligible: int
    inpatient_fund_paid: int
    burden: int
    critical_illness_paid: int
    assistance_paid: int


class CoverageRead(ResponseModel):
    """What a split is computed from besides the bill: category, assistance, the year's
    accumulators and what the personal account can still pay."""

    person_id: str
    category: str
    medical_assistance: bool
    accumulators: AccumulatorsRead
    personal_account_fen: int


@router.get(
    "/patients/{person_id}/coverage",
    response_model=CoverageRead,
    responses=errors(401, 403, 404, 422, 429),
)
def coverage(
    person_id: Id,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PATIENT_READ, terminals=False)],
    year: Annotated[int | None, Query(ge=2000, le=9999)] = None,
) -> CoverageRead:
    """A patient's standing for a year (default: this year), as the cashier's screen shows it."""
    services = state.services
    found = coverage_service.patient_coverage(
        ctx=services,
        hospital_id=who.hospital,
        person_id=person_id,
        year=year or services.clock.now().year,
    )
    return CoverageRead(
        person_id=found.person_id,
        category=found.category,
        medical_assistance=found.medical_assistance,
        accumulators=AccumulatorsRead(**found.accumulators.__dict__),
        personal_account_fen=found.personal_account_fen,
    )
