"""Admin use cases: hospitals, terminals, staff users and the insurance registry."""

from __future__ import annotations

from facepay.hospital.tenants import Hospital, StaffUser, TerminalRecord
from facepay.identity.id_card import IdCard
from facepay.identity.records import InsuredPerson
from facepay.services.context import Services


def register_hospital(
    *, ctx: Services, actor: str, name: str, hospital_id: str | None = None
) -> Hospital:
    """Create a hospital."""
    raise NotImplementedError


def register_terminal(
    *, ctx: Services, actor: str, hospital_id: str, name: str, public_key: bytes
) -> TerminalRecord:
    """Register a terminal of a hospital with its raw 32-byte Ed25519 public key."""
    raise NotImplementedError


def revoke_terminal(*, ctx: Services, actor: str, hospital_id: str, terminal_id: str) -> None:
    """Revoke a terminal: its signatures are refused from now on."""
    raise NotImplementedError


def create_staff_user(
    *, ctx: Services, actor: str, hospital_id: str, username: str, password_hash: str, role: str
) -> StaffUser:
    """Create a staff login (hash with facepay.api.staff_auth.PasswordHashing first)."""
    raise NotImplementedError


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
    raise NotImplementedError
