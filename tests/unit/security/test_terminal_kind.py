"""A terminal is authorised by its registered kind, carried from its key to its principal: an
`his` terminal posts bills, a kiosk or window does not, and a kind this version does not know
gets only what every terminal may."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pytest

from facepay.access.keys import public_key_from_text
from facepay.access.rbac import (
    TERMINAL_GRANTS,
    TERMINAL_KIND_GRANTS,
    AccessPolicy,
    Permission,
    Principal,
    PrincipalKind,
    Role,
    TerminalKind,
)
from facepay.access.signing import (
    InMemoryNonceStore,
    InMemoryTerminalKeys,
    RequestVerifier,
    TerminalKey,
)
from facepay.adapters.db.security_ports import SqlAlchemyTerminalKeys
from facepay.hospital.tenants import TerminalRecord
from facepay.services.memory import InMemoryStore, InMemoryUnitOfWork
from facepay.services.ports import UnitOfWork
from facepay.shared.clock import FixedClock
from facepay.shared.errors import Forbidden, InvalidInput
from facepay.terminal.signing import generate_terminal_key, public_key_raw_b64, sign_request

NOW = datetime(2026, 11, 23, 23, 40, tzinfo=UTC)
KEY = generate_terminal_key()
RAW = public_key_from_text(public_key_raw_b64(KEY))
POLICY = AccessPolicy()


def verified(kind: TerminalKind | None) -> Principal:
    keys = InMemoryTerminalKeys([TerminalKey("ter_1", "hos_1", RAW, kind)])
    verifier = RequestVerifier(keys=keys, nonces=InMemoryNonceStore(), clock=FixedClock(NOW))
    headers = sign_request(
        KEY, "POST", "/v1/bills", b"{}", terminal_id="ter_1", timestamp=int(NOW.timestamp())
    )
    return verifier.verify(method="POST", path="/v1/bills", headers=headers, body=b"{}")


@pytest.mark.parametrize("kind", [*TerminalKind, None])
def test_the_verified_principal_carries_the_registered_kind(kind: TerminalKind | None) -> None:
    principal = verified(kind)
    assert principal.kind is PrincipalKind.TERMINAL
    assert principal.terminal_kind is kind


@pytest.mark.parametrize(
    ("kind", "posts_bills"),
    [(TerminalKind.HIS, True), (TerminalKind.KIOSK, False), (TerminalKind.WINDOW, False)],
)
def test_only_the_his_kind_posts_bills(kind: TerminalKind, posts_bills: bool) -> None:
    principal = verified(kind)
    assert (Permission.BILL_CREATE in POLICY.permissions(principal)) is posts_bills
    if posts_bills:
        POLICY.require(principal, Permission.BILL_CREATE, hospital_id="hos_1")
    else:
        with pytest.raises(Forbidden):
            POLICY.require(principal, Permission.BILL_CREATE)


def test_a_kind_this_version_does_not_know_gets_what_every_terminal_may() -> None:
    granted = POLICY.permissions(verified(None))
    assert granted == frozenset.intersection(*TERMINAL_KIND_GRANTS.values())
    assert not granted & TERMINAL_GRANTS  # a lab system may not pay: neither may an unknown kind


def test_a_terminal_named_like_the_his_is_not_one() -> None:
    """The name or id of a terminal grants nothing: only its kind does."""
    named = Principal(PrincipalKind.TERMINAL, "his", "hos_1", terminal_kind=TerminalKind.KIOSK)
    assert Permission.BILL_CREATE not in POLICY.permissions(named)


def test_staff_have_no_terminal_kind() -> None:
    with pytest.raises(InvalidInput):
        Principal(PrincipalKind.STAFF, "stf_1", "hos_1", Role.CASHIER, TerminalKind.HIS)


def test_the_database_port_reads_the_kind_and_forgets_unknown_ones() -> None:
    store = InMemoryStore()
    with InMemoryUnitOfWork(store) as uow:
        for terminal_id, kind in (("t_his", "his"), ("t_kiosk", "kiosk"), ("t_new", "robot")):
            uow.tenants.add_terminal(TerminalRecord(terminal_id, "h1", "x", RAW, NOW, kind=kind))
        uow.commit()
    keys = SqlAlchemyTerminalKeys(lambda: cast(UnitOfWork, InMemoryUnitOfWork(store)))
    assert [keys.get(t).kind for t in ("t_his", "t_kiosk", "t_new")] == [  # type: ignore[union-attr]
        TerminalKind.HIS,
        TerminalKind.KIOSK,
        None,
    ]
