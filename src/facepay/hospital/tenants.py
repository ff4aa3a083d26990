"""Tenants: hospitals, their terminals (Ed25519 public keys) and staff users (argon2id hashes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

TERMINAL_KINDS = ("kiosk", "window", "his")
"""What a terminal is: a patient-facing kiosk, a cashier's window camera, or the hospital
information system (which also posts bills); facepay.access.rbac.TerminalKind has the same
values."""


@dataclass(frozen=True)
class Hospital:
    """A hospital using facepay; every object of the service belongs to one."""

    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class TerminalRecord:
    """A registered terminal of one of `TERMINAL_KINDS`; `active` False once revoked."""

    id: str
    hospital_id: str
    name: str
    public_key: bytes
    created_at: datetime
    active: bool = True
    kind: str = "kiosk"


@dataclass(frozen=True)
class StaffUser:
    """A staff login: role name (facepay.access.rbac.Role values) and argon2id hash; a platform
    operator (the insurance bureau's staff) has no hospital."""

    id: str
    hospital_id: str | None
    username: str
    password_hash: str
    role: str
    created_at: datetime
    active: bool = True
