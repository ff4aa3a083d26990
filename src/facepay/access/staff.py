"""Staff accounts and the login: the `StaffAccounts` port, its in-memory fake, the password
check and the per-request account check.

Every failure is `Unauthorized` with a stable code: `invalid_credentials`, `account_disabled`,
`unknown_staff` and `token_stale` (the account's role or hospital changed since the token was
issued). A token's signature proves only that this server issued it: every request also looks
the account up (`check_account`), so a disabled or deleted account stops working at once, not
at expiry.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Protocol

from facepay.access.passwords import MIN_PASSWORD, PasswordHashing
from facepay.access.rbac import Principal, Role
from facepay.shared.errors import Unauthorized


@dataclass(frozen=True)
class StaffAccount:
    """A staff member as the login needs them."""

    staff_id: str
    username: str
    password_hash: str
    role: Role
    hospital_id: str | None
    """None for platform operators (they belong to no hospital)."""
    active: bool = True


class StaffAccounts(Protocol):
    """Staff accounts by user name; the caller's unit of work commits `set_password_hash`."""

    def by_username(self, username: str) -> StaffAccount | None:
        """The account with this user name, if any."""
        ...

    def set_password_hash(self, staff_id: str, password_hash: str) -> None:
        """Replace the stored hash (after a parameter upgrade or a password change)."""
        ...

    def by_id(self, staff_id: str) -> StaffAccount | None:
        """The account with this staff id, if any."""
        ...


class InMemoryStaffAccounts:
    """A `StaffAccounts` in a dict, for tests and the demo."""

    def __init__(self, accounts: list[StaffAccount] | None = None) -> None:
        self._by_name = {a.username: a for a in accounts or []}
        self._lock = threading.Lock()

    def by_username(self, username: str) -> StaffAccount | None:
        """The account, if any."""
        return self._by_name.get(username)

    def by_id(self, staff_id: str) -> StaffAccount | None:
        """The account, if any."""
        return next((a for a in self._by_name.values() if a.staff_id == staff_id), None)

    def set_password_hash(self, staff_id: str, password_hash: str) -> None:
        """Store a new hash."""
        with self._lock:
            for name, account in self._by_name.items():
                if account.staff_id == staff_id:
                    self._by_name[name] = replace(account, password_hash=password_hash)


def authenticate(
    *, accounts: StaffAccounts, passwords: PasswordHashing, username: str, password: str
) -> StaffAccount:
    """Return the account if the password matches, upgrading its hash; else raise Unauthorized."""
    account = accounts.by_username(username)
    if account is None:
        passwords.verify_dummy(password)
        raise Unauthorized("wrong user name or password", code="invalid_credentials")
    if not passwords.verify(account.password_hash, password):
        raise Unauthorized("wrong user name or password", code="invalid_credentials")
    if not account.active:
        raise Unauthorized("this account is disabled", code="account_disabled")
    if passwords.needs_rehash(account.password_hash):
        new_hash = passwords.hash(password) if len(password) >= MIN_PASSWORD else None
        if new_hash is not None:  # a legacy short password is kept until the user changes it
            accounts.set_password_hash(account.staff_id, new_hash)
            account = replace(account, password_hash=new_hash)
    return account


def check_account(accounts: StaffAccounts, principal: Principal) -> None:
    """Refuse a valid token whose account is gone, disabled, or no longer what the token says."""
    account = accounts.by_id(principal.id)
    if account is None:
        raise Unauthorized("this staff account does not exist", code="unknown_staff")
    if not account.active:
        raise Unauthorized("this account is disabled", code="account_disabled")
    if (account.role, account.hospital_id) != (principal.role, principal.hospital_id):
        raise Unauthorized("the account changed since this token was issued; log in again",
                           code="token_stale")  # fmt: skip
