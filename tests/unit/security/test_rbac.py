"""Role-based access: grants per role, the cashier refund limit and the hospital boundary."""

from __future__ import annotations

import pytest

from facepay.access.rbac import (
    ROLE_GRANTS,
    TERMINAL_GRANTS,
    AccessPolicy,
    Permission,
    Principal,
    PrincipalKind,
    Role,
    TerminalKind,
    policy_with_cashier_limit,
    require,
)
from facepay.shared.errors import Forbidden, InvalidInput

A, B = "hos_a", "hos_b"


def staff(role: Role, hospital: str = A) -> Principal:
    where = None if role.is_platform else hospital
    return Principal(kind=PrincipalKind.STAFF, id=f"stf_{role}", hospital_id=where, role=role)


KIOSK = Principal(
    kind=PrincipalKind.TERMINAL, id="ter_1", hospital_id=A, terminal_kind=TerminalKind.KIOSK
)


def denied(code: str, principal: Principal, permission: Permission, **kwargs) -> None:
    with pytest.raises(Forbidden) as err:
        require(principal, permission, **kwargs)
    assert err.value.code == code


@pytest.mark.parametrize(
    ("principal", "permission"),
    [
        (staff(Role.CASHIER), Permission.PAYMENT_SETTLE),
        (staff(Role.CASHIER), Permission.PATIENT_ENROL),
        (staff(Role.PHARMACIST), Permission.PRESCRIPTION_DISPENSE),
        (staff(Role.DOCTOR), Permission.PATIENT_READ),
        (staff(Role.ADMIN), Permission.TERMINAL_REGISTER),
        (staff(Role.ADMIN), Permission.STAFF_MANAGE),
        (staff(Role.AUDITOR), Permission.AUDIT_READ),
        (KIOSK, Permission.PAYMENT_SETTLE),
        (KIOSK, Permission.PATIENT_IDENTIFY),
    ],
)
def test_granted_actions_pass(principal: Principal, permission: Permission) -> None:
    require(principal, permission, hospital_id=A)
    require(principal, permission)  # no object: the caller filters by its own hospital


@pytest.mark.parametrize(
    ("principal", "permission"),
    [
        (staff(Role.CASHIER), Permission.STAFF_MANAGE),
        (staff(Role.CASHIER), Permission.AUDIT_READ),
        (staff(Role.PHARMACIST), Permission.PAYMENT_REFUND),
        (staff(Role.DOCTOR), Permission.PAYMENT_SETTLE),
        (staff(Role.ADMIN), Permission.PAYMENT_SETTLE),
        (staff(Role.AUDITOR), Permission.PAYMENT_REFUND),
        (KIOSK, Permission.PAYMENT_REFUND),  # kiosk calls admin refund
        (KIOSK, Permission.TERMINAL_REGISTER),
        (KIOSK, Permission.AUDIT_READ),
    ],
)
def test_ungranted_actions_are_denied(principal: Principal, permission: Permission) -> None:
    denied("permission_denied", principal, permission, amount=100)


def test_auditor_only_reads() -> None:
    granted = ROLE_GRANTS[Role.AUDITOR]
    assert granted
    assert all(p.is_read_only for p in granted)
    for permission in Permission:
        if not permission.is_read_only:
            denied("permission_denied", staff(Role.AUDITOR), permission)


def test_no_one_can_read_templates() -> None:
    assert not [p for p in Permission if "template" in p.value]
    everything = set(TERMINAL_GRANTS).union(*ROLE_GRANTS.values())
    assert everything <= set(Permission)


@pytest.mark.parametrize("principal", [staff(role) for role in Role] + [KIOSK])
@pytest.mark.parametrize("permission", list(Permission))
def test_hospital_boundary_holds_for_everyone(principal: Principal, permission: Permission) -> None:
    denied("cross_hospital", principal, permission, hospital_id=B, amount=1)


def test_cashier_refund_limit() -> None:
    cashier = staff(Role.CASHIER)
    require(cashier, Permission.PAYMENT_REFUND, amount=50_000, hospital_id=A)
    denied("refund_limit_exceeded", cashier, Permission.PAYMENT_REFUND, amount=50_001)
    denied("amount_unknown", cashier, Permission.PAYMENT_REFUND)
    require(staff(Role.ADMIN), Permission.PAYMENT_REFUND, amount=10_000_000)
    require(staff(Role.ADMIN), Permission.PAYMENT_REFUND)


@pytest.mark.parametrize("amount", [0, -1, True])
def test_refund_amount_must_be_positive(amount: int) -> None:
    with pytest.raises(InvalidInput):
        require(staff(Role.CASHIER), Permission.PAYMENT_REFUND, amount=amount)


def test_refund_limit_is_configurable() -> None:
    policy = policy_with_cashier_limit(1_000)
    cashier = staff(Role.CASHIER)
    require(cashier, Permission.PAYMENT_REFUND, amount=1_000, policy=policy)
    with pytest.raises(Forbidden):
        require(cashier, Permission.PAYMENT_REFUND, amount=1_001, policy=policy)
    with pytest.raises(InvalidInput):
        policy_with_cashier_limit(-1)


def test_role_with_refund_grant_but_no_limit_entry_refunds_nothing() -> None:
    policy = AccessPolicy(refund_limits_fen={Role.ADMIN: None})
    with pytest.raises(Forbidden) as err:
        policy.require(staff(Role.CASHIER), Permission.PAYMENT_REFUND, amount=1)
    assert err.value.code == "refund_limit_exceeded"


def test_principal_shape_is_checked() -> None:
    with pytest.raises(InvalidInput):
        Principal(kind=PrincipalKind.STAFF, id="stf_1", hospital_id=A)
    with pytest.raises(InvalidInput):
        Principal(kind=PrincipalKind.TERMINAL, id="ter_1", hospital_id=A, role=Role.ADMIN)
    with pytest.raises(InvalidInput):  # a platform operator inside a hospital
        Principal(PrincipalKind.STAFF, "stf_1", A, Role.PLATFORM_OPERATOR)
    with pytest.raises(InvalidInput):  # hospital staff outside any hospital
        Principal(PrincipalKind.STAFF, "stf_1", None, Role.ADMIN)
    with pytest.raises(InvalidInput):
        Principal(PrincipalKind.TERMINAL, "ter_1", None)


HOSPITAL_WORK = [p for p in Permission if p not in ROLE_GRANTS[Role.PLATFORM_OPERATOR]]


@pytest.mark.parametrize("permission", HOSPITAL_WORK)
def test_platform_operator_does_no_hospital_work(permission: Permission) -> None:
    denied("permission_denied", staff(Role.PLATFORM_OPERATOR), permission, amount=1)


def test_only_the_platform_operator_registers_hospitals_and_people() -> None:
    for permission in (Permission.HOSPITAL_REGISTER, Permission.REGISTRY_MANAGE):
        require(staff(Role.PLATFORM_OPERATOR), permission)
        for role in Role:
            if not role.is_platform:
                denied("permission_denied", staff(role), permission)
        denied("permission_denied", KIOSK, permission)


def test_a_platform_operator_has_no_hospital_to_act_in() -> None:
    with pytest.raises(Forbidden):
        _ = staff(Role.PLATFORM_OPERATOR).hospital
    assert staff(Role.ADMIN).hospital == A


def test_the_audit_actor_names_the_kind_and_the_id() -> None:
    assert staff(Role.CASHIER).actor == "staff:stf_cashier"
    assert KIOSK.actor == "terminal:ter_1"
