"""The access ports (facepay.access) on the database: terminal keys, seen nonces, staff accounts.

Each call runs in its own short unit of work: a signature check or a login must not wait for,
or hold, the transaction of the use case it guards.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from facepay.access.rbac import Role, TerminalKind
from facepay.access.signing import TerminalKey
from facepay.access.staff import StaffAccount
from facepay.hospital.tenants import StaffUser
from facepay.services.ports import UnitOfWork


class SqlAlchemyTerminalKeys:
    """`TerminalKeys`: active terminals only (a revoked terminal is unknown), with their kind."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    def get(self, terminal_id: str) -> TerminalKey | None:
        """The active terminal with this id, if any."""
        with self._uow() as uow:
            terminal = uow.tenants.terminal(terminal_id)
        if terminal is None or not terminal.active:
            return None
        # A kind this version does not know is None: granted what every kind may, no more.
        kind = TerminalKind(terminal.kind) if terminal.kind in set(TerminalKind) else None
        return TerminalKey(terminal.id, terminal.hospital_id, terminal.public_key, kind)


class SqlAlchemyNonceStore:
    """`NonceStore`: (terminal, nonce) is the primary key, so check-and-insert is atomic."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    def remember(
        self, *, terminal_id: str, nonce: str, expires_at: datetime, now: datetime
    ) -> bool:
        """Record the nonce; False if it is already recorded and not yet expired."""
        with self._uow() as uow:
            # A nonce lost in a crash belonged to a request whose own effects were not durable
            # either: its use case commits synchronously, which also flushes this commit.
            uow.shared.relax_durability()
            fresh = uow.tenants.remember_nonce(
                terminal_id=terminal_id, nonce=nonce, expires_at=expires_at, now=now
            )
            uow.commit()
        return fresh


class SqlAlchemyStaffAccounts:
    """`StaffAccounts` on the staff_users table."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    def by_username(self, username: str) -> StaffAccount | None:
        """The account with this user name, if any."""
        with self._uow() as uow:
            return _account(uow.tenants.staff_by_username(username))

    def by_id(self, staff_id: str) -> StaffAccount | None:
        """The account with this staff id, if any."""
        with self._uow() as uow:
            return _account(uow.tenants.staff_by_id(staff_id))

    def set_password_hash(self, staff_id: str, password_hash: str) -> None:
        """Replace the stored hash (committed at once)."""
        with self._uow() as uow:
            uow.tenants.set_password_hash(staff_id, password_hash)
            uow.commit()


def _account(user: StaffUser | None) -> StaffAccount | None:
    if user is None or user.role not in {r.value for r in Role}:
        return None  # a role this version does not know never logs in
    return StaffAccount(
        staff_id=user.id,
        username=user.username,
        password_hash=user.password_hash,
        role=Role(user.role),
        hospital_id=user.hospital_id,
        active=user.active,
    )
