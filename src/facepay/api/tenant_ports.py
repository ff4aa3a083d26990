"""The auth ports (`TerminalKeys`, `NonceStore`, `StaffAccounts`) over the tenant repository.

Each call is its own short unit of work, so that a nonce is recorded (committed) before the
request it guards does anything, and a failed request still burns its nonce.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from facepay.api.rbac import Role
from facepay.api.signing import TerminalKey
from facepay.api.staff_auth import StaffAccount
from facepay.services.ports import UnitOfWork


class UowTerminalKeys:
    """Active terminals from storage."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    def get(self, terminal_id: str) -> TerminalKey | None:
        """The active terminal, if any."""
        with self._uow() as uow:
            record = uow.tenants.terminal(terminal_id)
        if record is None or not record.active:
            return None
        return TerminalKey(record.id, record.hospital_id, record.public_key)


class UowNonceStore:
    """Seen nonces in storage (a unique key makes check-and-insert atomic across processes)."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    def remember(
        self, *, terminal_id: str, nonce: str, expires_at: datetime, now: datetime
    ) -> bool:
        """Record the nonce; False if it is live already."""
        with self._uow() as uow:
            fresh = uow.tenants.remember_nonce(
                terminal_id=terminal_id, nonce=nonce, expires_at=expires_at, now=now
            )
            uow.commit()
        return fresh


class UowStaffAccounts:
    """Staff logins from storage."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    def by_username(self, username: str) -> StaffAccount | None:
        """The account, if any (an unknown stored role never logs in)."""
        with self._uow() as uow:
            user = uow.tenants.staff_by_username(username)
        if user is None or user.role not in {r.value for r in Role}:
            return None
        return StaffAccount(
            staff_id=user.id,
            username=user.username,
            password_hash=user.password_hash,
            role=Role(user.role),
            hospital_id=user.hospital_id,
            active=user.active,
        )

    def set_password_hash(self, staff_id: str, password_hash: str) -> None:
        """Store an upgraded hash."""
        with self._uow() as uow:
            uow.tenants.set_password_hash(staff_id, password_hash)
            uow.commit()
