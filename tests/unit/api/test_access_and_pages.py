"""The `Allowed` dependency's "Who may call" sentence follows the grant tables, terminal kinds
agree everywhere they are spelled, and page cursors round-trip and refuse anything else."""

from __future__ import annotations

import base64
import json
import typing
from datetime import UTC, datetime

import pytest

from facepay.access.rbac import (
    ROLE_GRANTS,
    TERMINAL_GRANTS,
    TERMINAL_KIND_GRANTS,
    AccessPolicy,
    Permission,
    Role,
    TerminalKind,
    policy_with_cashier_limit,
)
from facepay.api.access import Allowed, who_may_call
from facepay.api.pagination import BadCursor, decode_cursor, encode_cursor
from facepay.api.problems import status_of
from facepay.api.routes.admin import KindName
from facepay.hospital.tenants import TERMINAL_KINDS

P = Permission
POLICY = AccessPolicy()


def test_terminal_kinds_agree_in_every_layer() -> None:
    assert tuple(k.value for k in TerminalKind) == TERMINAL_KINDS
    assert typing.get_args(KindName) == TERMINAL_KINDS
    assert set(TERMINAL_KIND_GRANTS) == set(TerminalKind)


def test_patient_facing_kinds_may_what_a_kiosk_may_and_only_his_posts_bills() -> None:
    patient_facing = {TerminalKind.KIOSK, TerminalKind.WINDOW, TerminalKind.HIS}
    for kind, grants in TERMINAL_KIND_GRANTS.items():
        assert (grants >= TERMINAL_GRANTS) == (kind in patient_facing)
        assert (P.BILL_CREATE in grants) == (kind is TerminalKind.HIS)
        assert P.PAYMENT_REFUND not in grants
    # The lab and imaging systems identify nobody, pay nothing, enrol nobody.
    lis = TERMINAL_KIND_GRANTS[TerminalKind.LIS_PACS]
    assert not lis & {P.PATIENT_IDENTIFY, P.PAYMENT_SETTLE, P.PATIENT_ENROL, P.BILL_READ}
    assert POLICY.terminal_kinds_with(P.BILL_CREATE) == (TerminalKind.HIS,)


def test_the_new_read_permissions_are_read_only_and_go_to_admins_and_auditors() -> None:
    for permission in (P.TERMINAL_READ, P.STAFF_READ, P.REGISTRY_READ):
        assert permission.is_read_only
    assert POLICY.roles_with(P.TERMINAL_READ) == (Role.ADMIN, Role.AUDITOR)
    assert POLICY.roles_with(P.STAFF_READ) == (Role.ADMIN, Role.AUDITOR)
    assert POLICY.roles_with(P.REGISTRY_READ) == (Role.PLATFORM_OPERATOR,)


def test_the_sentence_names_exactly_the_granted_roles_and_kinds() -> None:
    sentence = who_may_call(Allowed(P.BILL_CREATE), POLICY)
    assert sentence == (
        "Who may call: staff with role cashier or doctor of the caller's hospital; "
        "a signed terminal of kind his of the caller's hospital."
    )
    for role in Role:
        assert (f" {role.value}" in sentence) == (P.BILL_CREATE in ROLE_GRANTS[role])


def test_staff_only_routes_name_no_terminal() -> None:
    sentence = who_may_call(Allowed(P.BILL_READ, terminals=False), POLICY)
    assert "terminal" not in sentence
    assert "cashier, pharmacist, doctor, nurse, admin or auditor" in sentence


def test_all_of_and_any_of() -> None:
    both = Allowed(P.PATIENT_ENROL, P.CONSENT_RECORD)
    assert both.roles(POLICY) == [Role.CASHIER]
    assert not both.grants(frozenset({P.PATIENT_ENROL}))
    either = Allowed(P.AUDIT_READ, P.PLATFORM_AUDIT_READ, any_of=True, terminals=False)
    assert either.roles(POLICY) == [Role.ADMIN, Role.AUDITOR, Role.PLATFORM_OPERATOR]
    assert either.grants(frozenset({P.PLATFORM_AUDIT_READ}))
    assert who_may_call(either, POLICY).endswith(
        "a platform operator (staff with role platform_operator, of no hospital)."
    )


def test_the_refund_sentence_carries_the_configured_cashier_limit() -> None:
    sentence = who_may_call(Allowed(P.PAYMENT_REFUND), policy_with_cashier_limit(12_345))
    assert "cashier (refunds up to 12345 fen) or admin" in sentence


def test_a_route_without_a_guard_says_so() -> None:
    assert who_may_call(None, POLICY) == "Who may call: anyone; no credentials are needed."


def test_an_allowed_needs_a_permission_and_a_credential() -> None:
    with pytest.raises(ValueError, match="permission"):
        Allowed()
    with pytest.raises(ValueError, match="authenticate"):
        Allowed(P.BILL_READ, staff=False, terminals=False)


KEY = (datetime(2026, 12, 1, 8, 30, 0, 123_456, tzinfo=UTC), "trm_0123abcd")


def test_a_cursor_round_trips_and_is_url_safe() -> None:
    cursor = encode_cursor("terminals", KEY)
    assert cursor is not None
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor("terminals", cursor) == KEY
    assert encode_cursor("terminals", None) is None
    assert decode_cursor("terminals", None) is None


def _raw(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "x",
        "not-base64!",
        "AAAA",
        _raw({"k": "terminals"}),
        _raw(["terminals", "2026-12-01T08:30:00+00:00"]),
        _raw(["terminals", "yesterday", "trm_1"]),
        _raw(["terminals", "2026-12-01T08:30:00", "trm_1"]),  # no time zone
        _raw(["terminals", "2026-12-01T08:30:00+00:00", 7]),
        _raw(["terminals", "2026-12-01T08:30:00+00:00", ""]),
        _raw(["terminals", "2026-12-01T08:30:00+00:00", "x' OR 1=1 --"]),
        _raw(["terminals", "2026-12-01T08:30:00+00:00", "t" * 121]),
        _raw("abc"),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_anything_but_a_cursor_is_a_400_bad_cursor(cursor: str) -> None:
    with pytest.raises(BadCursor) as refused:
        decode_cursor("terminals", cursor)
    assert (status_of(refused.value), refused.value.code) == (400, "bad_cursor")


def test_a_cursor_of_another_listing_is_refused() -> None:
    with pytest.raises(BadCursor):
        decode_cursor("staff", encode_cursor("terminals", KEY))
