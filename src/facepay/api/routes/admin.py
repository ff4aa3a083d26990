"""Administration: hospitals (with their first admin) and the insured-person registry (platform
operators only), terminals and staff (a hospital admin, inside their own hospital)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, status
from pydantic import Field

from facepay.access.keys import key_fingerprint, public_key_from_text
from facepay.access.rbac import Permission, Principal, Role, TerminalKind
from facepay.api.access import may
from facepay.api.deps import StateDep
from facepay.api.problems import errors
from facepay.api.schemas import Fen, Id, PlainText, RequestModel, ResponseModel
from facepay.hospital.tenants import StaffUser, TerminalRecord
from facepay.identity.id_card import IdCard
from facepay.identity.records import InsuredPerson
from facepay.services import admin, region
from facepay.shared.errors import Forbidden
from facepay.supervision.redaction import mask_id_number
from facepay.terminal.signing import (
    generate_terminal_key,
    private_key_to_pem,
    public_key_pem,
)

router = APIRouter(prefix="/v1", tags=["admin"])
Name = Annotated[PlainText, Field(min_length=1, max_length=120)]
Username = Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
Password = Annotated[str, Field(min_length=12, max_length=1024)]
KindName = Literal["kiosk", "window", "his", "ward", "exam_room", "lis_pacs"]
"""A facepay.access.rbac.TerminalKind value (a literal, so that the schema needs no enum type)."""


class HospitalCreate(RequestModel):
    """A new site of the region and its first administrator: a hospital (of a tier), a
    designated retail pharmacy, or the bureau's service centre."""

    name: Name
    admin_username: Username
    admin_password: Password
    kind: Literal["hospital", "pharmacy", "service_centre"] = "hospital"
    tier: Literal["primary", "secondary", "tertiary"] | None = None


class HospitalRead(ResponseModel):
    """A registered site."""

    id: str
    name: str
    admin_staff_id: str | None = None
    kind: str = "hospital"
    tier: str | None = None
    region_id: str | None = None


class TerminalCreate(RequestModel):
    """A terminal: send its public key (PEM or base64 raw Ed25519), or none to get a new pair."""

    name: Name
    kind: KindName = "kiosk"
    public_key: Annotated[str, Field(min_length=40, max_length=2000)] | None = None


class TerminalRead(ResponseModel):
    """A registered terminal; `private_key_pem` only once, when the server made the pair;
    `active` False once revoked."""

    id: str
    hospital_id: str
    name: str
    kind: KindName
    active: bool
    created_at: datetime
    fingerprint: str
    private_key_pem: str | None = None


class StaffCreate(RequestModel):
    """A staff login of the admin's hospital."""

    username: Username
    password: Password
    role: Role


class StaffRead(ResponseModel):
    """A staff user (never the hash); `hospital_id` is None for a platform operator, `active`
    False once the account is disabled."""

    id: str
    hospital_id: str | None
    username: str
    role: Role
    active: bool
    created_at: datetime


class IdCardCreate(RequestModel):
    """The ID card's chip data (the photo travels separately)."""

    id_number: Annotated[str, Field(min_length=18, max_length=18, pattern=r"^\d{17}[\dXx]$")]
    name: Annotated[PlainText, Field(min_length=1, max_length=80)]
    sex: Literal["F", "M"]
    birth_date: date

    def to_domain(self) -> IdCard:
        """The checked domain ID card."""
        return IdCard(
            id_number=self.id_number, name=self.name, sex=self.sex, birth_date=self.birth_date
        )


class InsuredPersonCreate(RequestModel):
    """A person of the insurance registry (what the insurance platform would sync)."""

    id_card: IdCardCreate
    category: Annotated[PlainText, Field(min_length=1, max_length=40)]
    insurance_card_number: Annotated[PlainText, Field(min_length=4, max_length=40)]
    phone: Annotated[str, Field(pattern=r"^\d{11}$")] | None = None
    medical_assistance: bool = False
    personal_account_fen: Fen = 0


class InsuredPersonRead(ResponseModel):
    """A registered person: ID number masked."""

    id: str
    id_number_masked: str
    category: str


def terminal_read(record: TerminalRecord, private_key_pem: str | None = None) -> TerminalRead:
    """The API form of a terminal (its public key as a fingerprint only)."""
    return TerminalRead(
        id=record.id,
        hospital_id=record.hospital_id,
        name=record.name,
        kind=TerminalKind(record.kind).value,
        active=record.active,
        created_at=record.created_at,
        fingerprint=key_fingerprint(record.public_key),
        private_key_pem=private_key_pem,
    )


def staff_read(user: StaffUser) -> StaffRead:
    """The API form of a staff user: never the password hash."""
    return StaffRead(
        id=user.id,
        hospital_id=user.hospital_id,
        username=user.username,
        role=Role(user.role),
        active=user.active,
        created_at=user.created_at,
    )


@router.post(
    "/hospitals",
    status_code=status.HTTP_201_CREATED,
    response_model=HospitalRead,
    responses=errors(401, 403, 409, 413, 422, 429),
)
def create_hospital(
    body: HospitalCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.HOSPITAL_REGISTER, terminals=False)],
) -> HospitalRead:
    """Onboard a hospital with its first admin, both or neither (platform operators)."""
    hospital, user = admin.register_hospital_with_admin(
        ctx=state.services,
        actor=who.actor,
        name=body.name,
        admin_username=body.admin_username,
        admin_password_hash=state.access.passwords.hash(body.admin_password),
        kind=body.kind,
        tier=body.tier,
    )
    return HospitalRead(
        id=hospital.id,
        name=hospital.name,
        admin_staff_id=user.id,
        kind=hospital.kind,
        tier=hospital.tier,
        region_id=hospital.region_id,
    )


@router.post(
    "/terminals",
    status_code=status.HTTP_201_CREATED,
    response_model=TerminalRead,
    responses=errors(401, 403, 409, 413, 422, 429),
)
def create_terminal(
    body: TerminalCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.TERMINAL_REGISTER, terminals=False)],
) -> TerminalRead:
    """Register a terminal of the admin's hospital; `kind` is stored as sent (`his`: the
    hospital information system, which also posts bills)."""
    private_pem: str | None = None
    if body.public_key is None:
        key = generate_terminal_key()
        private_pem = private_key_to_pem(key).decode("ascii")
        raw = public_key_from_text(public_key_pem(key))
    else:
        raw = public_key_from_text(body.public_key)
    record = admin.register_terminal(
        ctx=state.services,
        actor=who.actor,
        hospital_id=who.hospital,
        name=body.name,
        public_key=raw,
        kind=body.kind,
    )
    return terminal_read(record, private_pem)


@router.delete(
    "/terminals/{terminal_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403, 404, 422, 429),
)
def revoke_terminal(
    terminal_id: Id,
    state: StateDep,
    who: Annotated[Principal, may(Permission.TERMINAL_REVOKE, terminals=False)],
) -> None:
    """Revoke a terminal of the admin's hospital: its signatures stop working at once."""
    admin.revoke_terminal(
        ctx=state.services,
        actor=who.actor,
        hospital_id=who.hospital,
        terminal_id=terminal_id,
    )


@router.post(
    "/staff",
    status_code=status.HTTP_201_CREATED,
    response_model=StaffRead,
    responses=errors(401, 403, 409, 413, 422, 429),
)
def create_staff(
    body: StaffCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.STAFF_MANAGE, terminals=False)],
) -> StaffRead:
    """Create a staff login: a hospital admin creates their hospital's staff, a platform
    operator creates further platform operators."""
    if body.role.is_platform != (who.hospital_id is None):
        raise Forbidden(
            "a hospital admin creates their hospital's staff; only platform operators create "
            "platform operators (and hospitals' first admins, with the hospital)",
            code="permission_denied",
        )
    user = admin.create_staff_user(
        ctx=state.services,
        actor=who.actor,
        hospital_id=who.hospital_id,
        username=body.username,
        password_hash=state.access.passwords.hash(body.password),
        role=body.role.value,
    )
    return staff_read(user)


@router.post(
    "/insured-persons",
    status_code=status.HTTP_201_CREATED,
    response_model=InsuredPersonRead,
    responses=errors(401, 403, 409, 413, 422, 429),
)
def create_insured_person(
    body: InsuredPersonCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.REGISTRY_MANAGE, terminals=False)],
) -> InsuredPersonRead:
    """Register a person in the insurance registry and fund the personal account (platform
    operators: the money comes out of the insurance fund)."""
    person = admin.register_insured_person(
        ctx=state.services,
        actor=who.actor,
        id_card=body.id_card.to_domain(),
        category=body.category,
        insurance_card_number=body.insurance_card_number,
        phone=body.phone,
        medical_assistance=body.medical_assistance,
        personal_account_fen=body.personal_account_fen,
    )
    return insured_person_read(person)


def insured_person_read(person: InsuredPerson) -> InsuredPersonRead:
    """The API form of a registered person: the ID number masked, nothing else personal."""
    return InsuredPersonRead(
        id=person.id, id_number_masked=mask_id_number(person.id_number), category=person.category
    )


class SiteTotalsRead(ResponseModel):
    """A site's standing settlements summed, in fen, under the national field names."""

    settlements: int
    medfee_sumamt: Fen
    fund_pay_sumamt: Fen
    hifp_pay: Fen
    hifmi_pay: Fen
    maf_pay: Fen
    acct_pay: Fen
    psn_cash_pay: Fen


class SiteRead(ResponseModel):
    """One site of the region and its totals."""

    id: str
    name: str
    kind: str
    tier: str | None
    totals: SiteTotalsRead


class RegionRead(ResponseModel):
    """The region, every site with its totals, and the region's totals."""

    id: str
    name: str
    sites: list[SiteRead]
    totals: SiteTotalsRead


@router.get("/region", response_model=RegionRead, responses=errors(401, 403, 429))
def read_region(
    state: StateDep,
    who: Annotated[Principal, may(Permission.REGION_REPORT_READ, terminals=False)],
) -> RegionRead:
    """The region's sites (hospitals with their tier, pharmacies, service centres) and what
    each one's standing settlements add up to - what the funds owe it and what its patients
    paid it - with the region's totals (platform operators). No patient, bill or audit entry
    of any site is in it."""
    report = region.region_report(ctx=state.services)
    return RegionRead(
        id=report.region.id,
        name=report.region.name,
        sites=[
            SiteRead(
                id=site.id,
                name=site.name,
                kind=site.kind,
                tier=site.tier,
                totals=SiteTotalsRead(**asdict(totals)),
            )
            for site, totals in report.sites
        ],
        totals=SiteTotalsRead(**asdict(report.total)),
    )
