"""The API's security ports on each database: terminal keys, atomic nonces, staff accounts."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from facepay.access.passwords import PasswordHashing
from facepay.access.rbac import Role
from facepay.adapters.db.security_ports import (
    SqlAlchemyNonceStore,
    SqlAlchemyStaffAccounts,
    SqlAlchemyTerminalKeys,
)
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.hospital.tenants import Hospital, StaffUser, TerminalRecord

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def _seed(engine: Engine) -> None:
    with SqlAlchemyUnitOfWork(engine) as uow:
        uow.tenants.add_hospital(Hospital("h1", "One", NOW))
        uow.tenants.add_terminal(TerminalRecord("t1", "h1", "kiosk", b"k" * 32, NOW))
        uow.commit()


def test_terminal_keys_forget_revoked_terminals(engine: Engine) -> None:
    _seed(engine)
    keys = SqlAlchemyTerminalKeys(lambda: SqlAlchemyUnitOfWork(engine))
    key = keys.get("t1")
    assert key is not None
    assert (key.hospital_id, key.public_key) == ("h1", b"k" * 32)
    assert keys.get("nope") is None
    with SqlAlchemyUnitOfWork(engine) as uow:
        uow.tenants.set_terminal_active("t1", active=False)
        uow.commit()
    assert keys.get("t1") is None


def test_a_nonce_is_accepted_once_even_by_racing_threads(engine: Engine) -> None:
    _seed(engine)
    store = SqlAlchemyNonceStore(lambda: SqlAlchemyUnitOfWork(engine, lock_timeout_ms=5_000))
    later = NOW + timedelta(minutes=5)
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def remember() -> None:
        barrier.wait()
        results.append(store.remember(terminal_id="t1", nonce="n-1", expires_at=later, now=NOW))

    threads = [threading.Thread(target=remember) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]
    # Once expired, the same nonce may be seen again (the window is over).
    assert store.remember(
        terminal_id="t1", nonce="n-1", expires_at=later + timedelta(days=1), now=later
    )
    assert store.remember(terminal_id="t2", nonce="n-1", expires_at=later, now=NOW)


def test_staff_accounts_read_and_rehash(engine: Engine) -> None:
    _seed(engine)
    hashing = PasswordHashing(time_cost=1, memory_cost_kib=8_192, parallelism=1)  # fast in tests
    password = secrets.token_urlsafe(12)
    with SqlAlchemyUnitOfWork(engine) as uow:
        uow.tenants.add_staff(StaffUser("s1", "h1", "amy", hashing.hash(password), "cashier", NOW))
        uow.commit()
    accounts = SqlAlchemyStaffAccounts(lambda: SqlAlchemyUnitOfWork(engine))
    amy = accounts.by_username("amy")
    assert amy is not None
    assert (amy.role, amy.hospital_id, amy.active) == (Role.CASHIER, "h1", True)
    assert hashing.verify(amy.password_hash, password)
    accounts.set_password_hash("s1", hashing.hash("another long passphrase"))
    again = accounts.by_username("amy")
    assert again is not None
    assert hashing.verify(again.password_hash, "another long passphrase")
    assert accounts.by_username("bob") is None
