"""Admin use cases: hospitals, terminals, staff users and the insurance registry.

Each is one unit of work, and everything that can refuse (names, roles, hashes, the registry's
categories) is checked before anything is written: a registration is stored whole or not at all,
whenever the process dies. Hospitals, the registry and platform operators are the platform's
business; a hospital's admin manages that hospital's staff and terminals (facepay.access.rbac).
"""

from __future__ import annotations

from typing import cast

from facepay.access.rbac import Role
from facepay.hospital.tenants import (
    DEFAULT_REGION,
    TERMINAL_KINDS,
    Hospital,
    SiteKind,
    StaffUser,
    TerminalRecord,
    Tier,
)
from facepay.identity.id_card import IdCard
from facepay.identity.records import InsuredPerson
from facepay.ledger.accounts import hospital_chart
from facepay.ledger.posting import post
from facepay.services.context import Storage
from facepay.services.ledger import open_accounts_in, person_accounts, personal_account_credit
from facepay.services.ports import UnitOfWork
from facepay.services.support import audit, require_hospital
from facepay.shared.errors import Conflict, InvalidInput, NotFound
from facepay.shared.ids import new_id
from facepay.supervision.audit import PLATFORM_CHAIN
from facepay.supervision.redaction import mask_id_number

HOSPITAL_ROLES = tuple(role.value for role in Role if not role.is_platform)
PLATFORM_ROLES = tuple(role.value for role in Role if role.is_platform)
STAFF_ROLES = HOSPITAL_ROLES + PLATFORM_ROLES
"""The values of facepay.access.rbac.Role, as the staff table stores them."""
TEMPLATE_KEY_ID = "template_key_id"
"""The installation fact naming the template key (facepay.services.template_integrity)."""


def _text(value: str, what: str, limit: int = 80) -> str:
    if not value.strip() or len(value) > limit or not value.isprintable():
        raise InvalidInput(f"{what}: 1 to {limit} printable characters")
    return value.strip()


def register_hospital(
    *,
    ctx: Storage,
    actor: str,
    name: str,
    hospital_id: str | None = None,
    kind: str = "hospital",
    tier: str | None = None,
) -> Hospital:
    """Create a site (without staff; `register_hospital_with_admin` is the usual way)."""
    hospital = _new_hospital(ctx, name, hospital_id, kind=kind, tier=tier)
    with ctx.uow() as uow:
        _add_hospital(ctx, uow, actor, hospital)
        uow.commit()
    return hospital


def register_hospital_with_admin(
    *,
    ctx: Storage,
    actor: str,
    name: str,
    admin_username: str,
    admin_password_hash: str,
    hospital_id: str | None = None,
    kind: str = "hospital",
    tier: str | None = None,
) -> tuple[Hospital, StaffUser]:
    """Create a site of the region (a hospital of a tier, a pharmacy or a service centre) and
    its first admin together: a taken user name stores neither."""
    hospital = _new_hospital(ctx, name, hospital_id, kind=kind, tier=tier)
    user = _new_staff(ctx, hospital.id, admin_username, admin_password_hash, "admin")
    with ctx.uow() as uow:
        _add_hospital(ctx, uow, actor, hospital)
        _add_staff(ctx, uow, actor, user)
        uow.commit()
    return hospital, user


def require_uninitialised(*, ctx: Storage, where: str) -> None:
    """Conflict `already_initialised` if the installation has a platform operator already."""
    with ctx.uow() as uow:
        _require_no_operator(uow, where)


def _require_no_operator(uow: UnitOfWork, where: str) -> None:
    operators = uow.tenants.platform_operator_names()
    if operators:
        raise Conflict(
            f"{where} is initialised already (platform operator {', '.join(operators)}): log in "
            "as the operator to register hospitals; nothing was changed",
            code="already_initialised",
        )


def initialise_platform(
    *,
    ctx: Storage,
    actor: str,
    operator_username: str,
    operator_password_hash: str,
    hospital: tuple[str, str, str] | None = None,
    template_key_id: str | None = None,
    region_name: str | None = None,
) -> tuple[StaffUser, tuple[Hospital, StaffUser] | None]:
    """The first platform operator and, given (name, admin user name, admin hash), a first
    hospital with its admin: all of it or nothing (`facepay admin init`). With
    `template_key_id`, the id of the key templates will be sealed with is recorded too; with
    `region_name`, the installation's region is named (a single hospital is a region of one)."""
    if region_name is not None:
        region_name = _text(region_name, "region name", 200)
    operator = _new_staff(ctx, None, operator_username, operator_password_hash, "platform_operator")
    first: tuple[Hospital, StaffUser] | None = None
    if hospital is not None:
        name, admin_username, admin_hash = hospital
        created = _new_hospital(ctx, name, None)
        first = (created, _new_staff(ctx, created.id, admin_username, admin_hash, "admin"))
    with ctx.uow() as uow:
        _require_no_operator(uow, "this installation")
        _add_staff(ctx, uow, actor, operator)
        if region_name is not None:
            uow.tenants.set_region_name(DEFAULT_REGION, region_name)
        if template_key_id is not None:
            uow.tenants.set_installation_value(
                TEMPLATE_KEY_ID, template_key_id, at=operator.created_at
            )
        if first is not None:
            _add_hospital(ctx, uow, actor, first[0])
            _add_staff(ctx, uow, actor, first[1])
        uow.commit()
    return operator, first


def _new_hospital(
    ctx: Storage,
    name: str,
    hospital_id: str | None,
    *,
    kind: str = "hospital",
    tier: str | None = None,
) -> Hospital:
    # Hospital checks the kind and the tier (`bad_site_kind`).
    hospital = Hospital(
        hospital_id or new_id("hsp"),
        _text(name, "name", 200),
        ctx.clock.now(),
        region_id=DEFAULT_REGION,
        kind=cast(SiteKind, kind),
        tier=cast(Tier | None, tier),
    )
    _text(hospital.id, "hospital_id", 64)
    if hospital.id == PLATFORM_CHAIN:
        raise InvalidInput(f"{PLATFORM_CHAIN!r} names the platform's audit chain", code="bad_id")
    return hospital


def _add_hospital(ctx: Storage, uow: UnitOfWork, actor: str, hospital: Hospital) -> None:
    uow.tenants.add_hospital(hospital)
    open_accounts_in(uow, hospital_chart(hospital.id))
    details = {"kind": hospital.kind, "tier": hospital.tier, "region": hospital.region_id}
    audit(ctx, uow, actor=actor, action="hospital.register", subject=hospital.id, details=details)


def register_terminal(
    *,
    ctx: Storage,
    actor: str,
    hospital_id: str,
    name: str,
    public_key: bytes,
    kind: str = "kiosk",
) -> TerminalRecord:
    """Register a terminal of a hospital (one of TERMINAL_KINDS) with its raw 32-byte Ed25519
    public key."""
    if len(public_key) != 32:
        raise InvalidInput("an Ed25519 public key is 32 bytes", code="bad_public_key")
    if kind not in TERMINAL_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(TERMINAL_KINDS)}", code="bad_kind")
    terminal = TerminalRecord(
        new_id("trm"),
        hospital_id,
        _text(name, "name"),
        bytes(public_key),
        ctx.clock.now(),
        kind=kind,
    )
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        uow.tenants.add_terminal(terminal)
        audit(
            ctx,
            uow,
            actor=actor,
            action="terminal.register",
            subject=terminal.id,
            details={"hospital": hospital_id, "kind": kind},
        )
        uow.commit()
    return terminal


def revoke_terminal(*, ctx: Storage, actor: str, hospital_id: str, terminal_id: str) -> None:
    """Revoke a terminal: its signatures are refused from now on."""
    with ctx.uow() as uow:
        terminal = uow.tenants.terminal(terminal_id)
        if terminal is None or terminal.hospital_id != hospital_id:
            raise NotFound("no such terminal")
        uow.tenants.set_terminal_active(terminal_id, active=False)
        audit(
            ctx,
            uow,
            actor=actor,
            action="terminal.revoke",
            subject=terminal_id,
            details={"hospital": hospital_id},
        )
        uow.commit()


def create_staff_user(
    *,
    ctx: Storage,
    actor: str,
    hospital_id: str | None,
    username: str,
    password_hash: str,
    role: str,
) -> StaffUser:
    """Create a staff login (hash with facepay.access.passwords.PasswordHashing first): a hospital
    role inside `hospital_id`, or a platform operator with `hospital_id` None."""
    user = _new_staff(ctx, hospital_id, username, password_hash, role)
    with ctx.uow() as uow:
        _add_staff(ctx, uow, actor, user)
        uow.commit()
    return user


def _new_staff(
    ctx: Storage, hospital_id: str | None, username: str, password_hash: str, role: str
) -> StaffUser:
    if role not in STAFF_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(STAFF_ROLES)}", code="bad_role")
    if (role in PLATFORM_ROLES) != (hospital_id is None):
        raise InvalidInput(
            "platform operators belong to no hospital; every other role to one", code="bad_role"
        )
    if not password_hash.startswith("$argon2id$"):
        raise InvalidInput("password_hash must be an argon2id hash", code="bad_password_hash")
    return StaffUser(
        new_id("stf"),
        hospital_id,
        _text(username, "username"),
        password_hash,
        role,
        ctx.clock.now(),
    )


def _add_staff(ctx: Storage, uow: UnitOfWork, actor: str, user: StaffUser) -> None:
    if user.hospital_id is not None:
        require_hospital(uow, user.hospital_id)
    uow.tenants.add_staff(user)
    details: dict[str, object] = {"role": user.role}
    if user.hospital_id is not None:
        details["hospital"] = user.hospital_id
    audit(ctx, uow, actor=actor, action="staff.create", subject=user.id, details=details)


def register_insured_person(
    *,
    ctx: Storage,
    actor: str,
    id_card: IdCard,
    category: str,
    insurance_card_number: str,
    phone: str | None = None,
    medical_assistance: bool = False,
    personal_account_fen: int = 0,
) -> InsuredPerson:
    """Add a person to the registry, open their accounts and fund the personal account, in one
    transaction (the platform's job: the money comes out of the insurance fund)."""
    if isinstance(personal_account_fen, bool) or personal_account_fen < 0:
        raise InvalidInput("personal_account_fen must not be negative")
    if phone is not None and not (phone.isdigit() and len(phone) == 11):
        raise InvalidInput("phone: an 11-digit mobile number", code="bad_phone")
    known = ctx.policies.categories()
    if category not in known:
        raise InvalidInput(
            f"category {category!r} is covered by no policy; one of {', '.join(sorted(known))}",
            code="unknown_category",
        )
    person = InsuredPerson(
        id=new_id("psn"),
        id_number=id_card.id_number,
        name=id_card.name,
        sex=id_card.sex,
        birth_date=id_card.birth_date,
        category=_text(category, "category", 40),
        insurance_card_number=_text(insurance_card_number, "insurance_card_number", 40),
        phone=phone,
        medical_assistance=medical_assistance,
    )
    credit = (
        personal_account_credit(person.id, personal_account_fen, f"opening:{person.id}")
        if personal_account_fen
        else None
    )
    with ctx.uow() as uow:
        uow.people.add(person)
        open_accounts_in(uow, person_accounts(person.id))
        if credit is not None:
            post(repo=uow.ledger, request=credit, now=ctx.clock.now())
        audit(
            ctx,
            uow,
            actor=actor,
            action="registry.add_person",
            subject=person.id,
            details={
                "id_number": mask_id_number(person.id_number),
                "category": category,
                "opening_fen": personal_account_fen,
            },
        )
        uow.commit()
    return person
