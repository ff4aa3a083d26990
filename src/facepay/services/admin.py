"""Admin use cases: hospitals, terminals, staff users and the insurance registry."""

from __future__ import annotations

from facepay.hospital.tenants import Hospital, StaffUser, TerminalRecord
from facepay.identity.id_card import IdCard
from facepay.identity.records import InsuredPerson
from facepay.services.context import Services
from facepay.services.ledger import credit_personal_account, open_person_accounts
from facepay.services.support import audit, require_hospital
from facepay.shared.errors import InvalidInput, NotFound
from facepay.shared.ids import new_id
from facepay.supervision.redaction import mask_id_number

STAFF_ROLES = ("cashier", "pharmacist", "doctor", "admin", "auditor")
"""facepay.api.rbac.Role values (services do not import the API layer)."""


def _text(value: str, what: str, limit: int = 80) -> str:
    if not value.strip() or len(value) > limit or not value.isprintable():
        raise InvalidInput(f"{what}: 1 to {limit} printable characters")
    return value.strip()


def register_hospital(
    *, ctx: Services, actor: str, name: str, hospital_id: str | None = None
) -> Hospital:
    """Create a hospital."""
    hospital = Hospital(hospital_id or new_id("hsp"), _text(name, "name", 200), ctx.clock.now())
    _text(hospital.id, "hospital_id", 120)
    with ctx.uow() as uow:
        uow.tenants.add_hospital(hospital)
        audit(ctx, uow, actor=actor, action="hospital.register", subject=hospital.id)
        uow.commit()
    return hospital


def register_terminal(
    *, ctx: Services, actor: str, hospital_id: str, name: str, public_key: bytes
) -> TerminalRecord:
    """Register a terminal of a hospital with its raw 32-byte Ed25519 public key."""
    if len(public_key) != 32:
        raise InvalidInput("an Ed25519 public key is 32 bytes", code="bad_public_key")
    terminal = TerminalRecord(
        new_id("trm"), hospital_id, _text(name, "name"), bytes(public_key), ctx.clock.now()
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
            details={"hospital": hospital_id},
        )
        uow.commit()
    return terminal


def revoke_terminal(*, ctx: Services, actor: str, hospital_id: str, terminal_id: str) -> None:
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
    *, ctx: Services, actor: str, hospital_id: str, username: str, password_hash: str, role: str
) -> StaffUser:
    """Create a staff login (hash with facepay.api.staff_auth.PasswordHashing first)."""
    if role not in STAFF_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(STAFF_ROLES)}", code="bad_role")
    if not password_hash.startswith("$argon2id$"):
        raise InvalidInput("password_hash must be an argon2id hash", code="bad_password_hash")
    user = StaffUser(
        new_id("stf"),
        hospital_id,
        _text(username, "username"),
        password_hash,
        role,
        ctx.clock.now(),
    )
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        uow.tenants.add_staff(user)
        audit(
            ctx,
            uow,
            actor=actor,
            action="staff.create",
            subject=user.id,
            details={"hospital": hospital_id, "role": role},
        )
        uow.commit()
    return user


def register_insured_person(
    *,
    ctx: Services,
    actor: str,
    id_card: IdCard,
    category: str,
    insurance_card_number: str,
    phone: str | None = None,
    medical_assistance: bool = False,
    personal_account_fen: int = 0,
) -> InsuredPerson:
    """Add a person to the insurance registry, open their accounts and fund the personal account."""
    if personal_account_fen < 0:
        raise InvalidInput("personal_account_fen must not be negative")
    if phone is not None and not (phone.isdigit() and len(phone) == 11):
        raise InvalidInput("phone: an 11-digit mobile number", code="bad_phone")
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
    with ctx.uow() as uow:
        uow.people.add(person)
        audit(
            ctx,
            uow,
            actor=actor,
            action="registry.add_person",
            subject=person.id,
            details={"id_number": mask_id_number(person.id_number), "category": category},
        )
        uow.commit()
    # Separate units of work (the ledger use cases own theirs); both are idempotent.
    open_person_accounts(uow=ctx.uow(), person_id=person.id)
    if personal_account_fen:
        credit_personal_account(
            uow=ctx.uow(),
            person_id=person.id,
            amount=personal_account_fen,
            idempotency_key=f"opening:{person.id}",
            clock=ctx.clock,
        )
    return person
