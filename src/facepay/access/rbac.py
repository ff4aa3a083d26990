"""Role-based access: who may do what, up to which amount, and only inside their own hospital.

Two kinds of staff: a hospital's staff (cashier, pharmacist, doctor, nurse, admin, auditor), who act
inside their hospital only, and the platform operators of the insurance bureau that runs
facepay, who belong to no hospital: they alone register hospitals, load the insured-person
registry with its opening balances and read every hospital's audit log, and they take part in no
hospital's patient or bill flows. The grant table below is the whole policy.

There is deliberately no permission to read face templates: templates leave the database only
sealed, towards the gallery, never through the API. Every check fails closed: an unknown
permission, a missing refund amount or a foreign hospital is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from facepay.shared.errors import Forbidden, InvalidInput


class Role(StrEnum):
    """Staff roles."""

    CASHIER = "cashier"
    PHARMACIST = "pharmacist"
    DOCTOR = "doctor"
    NURSE = "nurse"
    """Wards, clinics, exam rooms and the emergency desk: admissions, check-ins, charges."""
    ADMIN = "admin"
    AUDITOR = "auditor"
    PLATFORM_OPERATOR = "platform_operator"

    @property
    def is_platform(self) -> bool:
        """Whether this role belongs to the platform (no hospital) rather than to a hospital."""
        return self is Role.PLATFORM_OPERATOR


class PrincipalKind(StrEnum):
    """Who is calling: a logged-in staff member or a signed terminal (kiosk, window camera)."""

    STAFF = "staff"
    TERMINAL = "terminal"


class TerminalKind(StrEnum):
    """What a terminal is (facepay.hospital.tenants.TERMINAL_KINDS): a patient-facing kiosk, a
    cashier's or pharmacy's window camera, the hospital information system, a ward's bedside or
    corridor terminal, an exam room's check-in camera, or the lab / imaging system (LIS/PACS)."""

    KIOSK = "kiosk"
    WINDOW = "window"
    HIS = "his"
    WARD = "ward"
    EXAM_ROOM = "exam_room"
    LIS_PACS = "lis_pacs"


class Permission(StrEnum):
    """One action the API can perform; `*.read` ones change nothing."""

    BILL_READ = "bill.read"
    BILL_CREATE = "bill.create"
    PATIENT_READ = "patient.read"
    PATIENT_IDENTIFY = "patient.identify"
    PATIENT_ENROL = "patient.enrol"
    CONSENT_RECORD = "consent.record"
    CONSENT_WITHDRAW = "consent.withdraw"
    PAYMENT_PRESETTLE = "payment.presettle"
    PAYMENT_SETTLE = "payment.settle"
    PAYMENT_REFUND = "payment.refund"
    PRESCRIPTION_DISPENSE = "prescription.dispense"
    AUDIT_READ = "audit.read"
    REPORT_READ = "report.read"
    TERMINAL_REGISTER = "terminal.register"
    TERMINAL_REVOKE = "terminal.revoke"
    STAFF_MANAGE = "staff.manage"
    HOSPITAL_REGISTER = "hospital.register"
    REGISTRY_MANAGE = "registry.manage"
    """Add insured persons to the registry and fund their personal accounts."""
    REGISTRY_READ = "registry.read"
    """Look anyone up in the insured-person registry (hospitals see only their own patients)."""
    TERMINAL_READ = "terminal.read"
    STAFF_READ = "staff.read"
    REGION_REPORT_READ = "region_report.read"
    """Every site of the region with its settlement totals (never a patient or a bill)."""
    PLATFORM_AUDIT_READ = "platform_audit.read"
    """Read and verify every hospital's audit chain and the platform's own."""
    LIVENESS_READ = "liveness.read"
    """Read why liveness refused a capture (every check and its score): not for the front desk,
    whose answer to a patient is the one sentence the patient was told."""
    # The hospital around the payment (facepay.hospital.visits and the flows built on it).
    APPOINTMENT_SCHEDULE = "appointment.schedule"
    """Open a department's sessions and slots, with capacity and registration fee."""
    APPOINTMENT_BOOK = "appointment.book"
    APPOINTMENT_CANCEL = "appointment.cancel"
    APPOINTMENT_CHECK_IN = "appointment.check_in"
    APPOINTMENT_READ = "appointment.read"
    DISPENSING_READ = "dispensing.read"
    """A pharmacy window's queue of dispensing orders."""
    EXAM_READ = "exam.read"
    """A department's worklist of service requests (exams and lab tests)."""
    EXAM_CHECK_IN = "exam.check_in"
    EXAM_COMPLETE = "exam.complete"
    EXAM_RESULT_RECORD = "exam.result"
    """Record a report summary and an image reference from the LIS/PACS."""
    EXAM_RESULT_READ = "exam_result.read"
    """Read a report: the ordering doctor only (checked against the request)."""
    EXAM_STATUS_READ = "exam_status.read"
    """Whether a patient's results are ready (never the report itself)."""
    INPATIENT_ADMIT = "inpatient.admit"
    INPATIENT_DEPOSIT = "inpatient.deposit"
    INPATIENT_CHARGE = "inpatient.charge"
    INPATIENT_DISCHARGE = "inpatient.discharge"
    INPATIENT_DISCHARGE_REVERSE = "inpatient.discharge_reverse"
    """Cancel a discharge settlement (the national interface's 2305) so it can be redone."""
    INPATIENT_BEDSIDE = "inpatient.bedside"
    INPATIENT_READ = "inpatient.read"
    EMERGENCY_IDENTIFY = "emergency.identify"
    """1:N over the whole region for a patient who cannot say who they are, with a reason."""
    EMERGENCY_RECORD = "emergency.record"
    EMERGENCY_MERGE = "emergency.merge"
    PROXY_REGISTER = "proxy.register"
    """Register a guardian or carer who may act for a patient (both identities, a basis)."""
    PROXY_REVOKE = "proxy.revoke"
    PROXY_READ = "proxy.read"
    OFFLINE_LIMITS_SET = "offline_limits.set"
    """Set what the site's terminals may do offline (amounts, counts, ages)."""
    OFFLINE_LIMITS_READ = "offline_limits.read"
    OFFLINE_SYNC = "offline.sync"
    """A payment terminal's offline side: register its sealing key, fetch its offline package,
    upload its vouchers."""
    OFFLINE_REVIEW = "offline.review"
    """Post or reject a quarantined offline voucher."""
    OFFLINE_READ = "offline.read"
    """Read the site's offline vouchers and their outcomes."""
    ARREARS_COLLECT = "arrears.collect"
    """Take a patient's repayment of arrears at the window (cash or bank)."""
    REFUND_DUE_PAY = "refund_due.pay"
    """Pay a patient, at the window, the refund due to them."""
    BALANCES_READ = "balances.read"
    """What a patient owes (arrears) and is owed (refund due), with the vouchers that made it."""
    SUBSCRIPTION_MANAGE = "subscription.manage"
    """Make, read and stop the site's FHIR rest-hook subscriptions (where the server posts)."""

    @property
    def is_read_only(self) -> bool:
        """True for permissions that only read."""
        return self.value.endswith(".read")


P = Permission
_FRONT_DESK = frozenset({P.BILL_READ, P.PATIENT_READ, P.PATIENT_IDENTIFY})
_APPOINTMENTS = frozenset(
    {P.APPOINTMENT_BOOK, P.APPOINTMENT_CANCEL, P.APPOINTMENT_CHECK_IN, P.APPOINTMENT_READ}
)
_PROXIES = frozenset({P.PROXY_REGISTER, P.PROXY_REVOKE, P.PROXY_READ})
_WARD = frozenset({P.INPATIENT_ADMIT, P.INPATIENT_DEPOSIT, P.INPATIENT_CHARGE, P.INPATIENT_READ})
_EMERGENCY = frozenset({P.EMERGENCY_IDENTIFY, P.EMERGENCY_RECORD})
_OVERSIGHT = frozenset(
    {P.APPOINTMENT_READ, P.DISPENSING_READ, P.EXAM_READ, P.INPATIENT_READ, P.PROXY_READ}
    | {P.OFFLINE_LIMITS_READ, P.OFFLINE_READ, P.BALANCES_READ}
)
# The window settles what offline payment and discharges left: a staff act, never a terminal's.
_BALANCES = frozenset({P.ARREARS_COLLECT, P.REFUND_DUE_PAY, P.BALANCES_READ})
ROLE_GRANTS: Mapping[Role, frozenset[Permission]] = {
    Role.CASHIER: _FRONT_DESK
    | {P.BILL_CREATE, P.PATIENT_ENROL, P.CONSENT_RECORD, P.CONSENT_WITHDRAW}
    | {P.PAYMENT_PRESETTLE, P.PAYMENT_SETTLE, P.PAYMENT_REFUND}
    | _APPOINTMENTS
    | _PROXIES
    | {P.INPATIENT_ADMIT, P.INPATIENT_DEPOSIT, P.INPATIENT_READ, P.INPATIENT_DISCHARGE}
    | {P.INPATIENT_DISCHARGE_REVERSE, P.EMERGENCY_RECORD, P.EMERGENCY_MERGE}
    | {P.EXAM_STATUS_READ}
    | _BALANCES,
    Role.PHARMACIST: _FRONT_DESK | {P.PRESCRIPTION_DISPENSE, P.DISPENSING_READ, P.PROXY_READ},
    Role.DOCTOR: _FRONT_DESK
    | {P.BILL_CREATE, P.APPOINTMENT_READ, P.APPOINTMENT_CHECK_IN}
    | {P.EXAM_READ, P.EXAM_CHECK_IN, P.EXAM_COMPLETE, P.EXAM_RESULT_READ, P.EXAM_STATUS_READ}
    | {P.INPATIENT_CHARGE, P.INPATIENT_READ, P.PROXY_READ}
    | _EMERGENCY,
    Role.NURSE: _FRONT_DESK
    | {P.APPOINTMENT_READ, P.APPOINTMENT_CHECK_IN}
    | {P.EXAM_READ, P.EXAM_CHECK_IN, P.EXAM_COMPLETE, P.EXAM_STATUS_READ}
    | _WARD
    | {P.INPATIENT_BEDSIDE}
    | _EMERGENCY
    | _PROXIES,
    Role.ADMIN: frozenset({P.BILL_READ, P.PATIENT_READ, P.CONSENT_WITHDRAW, P.PAYMENT_REFUND})
    | {P.AUDIT_READ, P.REPORT_READ, P.TERMINAL_REGISTER, P.TERMINAL_REVOKE, P.STAFF_MANAGE}
    | {P.TERMINAL_READ, P.STAFF_READ, P.LIVENESS_READ}
    | {P.APPOINTMENT_SCHEDULE, P.INPATIENT_DISCHARGE_REVERSE, P.EMERGENCY_MERGE}
    | {P.PROXY_REVOKE, P.OFFLINE_LIMITS_SET, P.OFFLINE_REVIEW, P.SUBSCRIPTION_MANAGE}
    | _OVERSIGHT
    | _BALANCES,
    Role.AUDITOR: frozenset({P.BILL_READ, P.PATIENT_READ, P.AUDIT_READ, P.REPORT_READ})
    | {P.TERMINAL_READ, P.STAFF_READ, P.LIVENESS_READ}
    | _OVERSIGHT,
    Role.PLATFORM_OPERATOR: frozenset(
        {P.HOSPITAL_REGISTER, P.REGISTRY_MANAGE, P.REGISTRY_READ, P.STAFF_MANAGE}
        | {P.PLATFORM_AUDIT_READ, P.LIVENESS_READ, P.REGION_REPORT_READ}
    ),
}
# A kiosk serves the patient in front of it: identify, enrol with consent, pay. No refunds.
TERMINAL_GRANTS = frozenset(
    {P.BILL_READ, P.PATIENT_IDENTIFY, P.PATIENT_ENROL, P.CONSENT_RECORD}
    | {P.PAYMENT_PRESETTLE, P.PAYMENT_SETTLE}
)
"""What a patient-facing terminal (kiosk, window, HIS) may do."""
_PATIENT_TERMINAL = (
    TERMINAL_GRANTS
    | {P.APPOINTMENT_BOOK, P.APPOINTMENT_CANCEL, P.APPOINTMENT_CHECK_IN, P.APPOINTMENT_READ}
    | {P.EXAM_CHECK_IN, P.EXAM_STATUS_READ, P.INPATIENT_DEPOSIT}
)
TERMINAL_KIND_GRANTS: Mapping[TerminalKind, frozenset[Permission]] = {
    # Both take payments offline too (facepay terminal run).
    TerminalKind.KIOSK: _PATIENT_TERMINAL | {P.OFFLINE_SYNC},
    # A window camera also shows a pharmacy window its queue.
    TerminalKind.WINDOW: _PATIENT_TERMINAL | {P.DISPENSING_READ, P.OFFLINE_SYNC},
    # The hospital information system also posts the bills it priced and the stay's charges,
    # books for its own channels (its app, its phone line), reads its site's patients, their
    # coverage, stays and the pharmacy's dispensing through the FHIR facade (ID numbers
    # masked; /v1 patient routes are staff's) and subscribes to the site's events there.
    TerminalKind.HIS: TERMINAL_GRANTS
    | {P.BILL_CREATE, P.APPOINTMENT_BOOK, P.APPOINTMENT_CANCEL, P.APPOINTMENT_READ}
    | {P.INPATIENT_CHARGE, P.INPATIENT_READ, P.PATIENT_READ, P.SUBSCRIPTION_MANAGE}
    | {P.DISPENSING_READ},
    # At the bed: the daily check-in and deposit top-ups by face.
    TerminalKind.WARD: frozenset(
        {P.PATIENT_IDENTIFY, P.INPATIENT_BEDSIDE, P.INPATIENT_DEPOSIT, P.INPATIENT_READ}
    ),
    TerminalKind.EXAM_ROOM: frozenset({P.PATIENT_IDENTIFY, P.EXAM_CHECK_IN, P.EXAM_READ}),
    # The lab and imaging systems report results; they identify nobody and pay nothing.
    TerminalKind.LIS_PACS: frozenset({P.EXAM_RESULT_RECORD, P.EXAM_READ}),
}
UNKNOWN_KIND_GRANTS = frozenset.intersection(*TERMINAL_KIND_GRANTS.values())
"""What a terminal of a kind this version does not know may do: what every kind may."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller; `role` is None for terminals, `hospital_id` None for platform
    operators (and only for them). `terminal_kind` is the registered kind of a terminal (None:
    a kind this version does not know, which is granted only what every kind may)."""

    kind: PrincipalKind
    id: str
    hospital_id: str | None
    role: Role | None = None
    terminal_kind: TerminalKind | None = None

    def __post_init__(self) -> None:
        if (self.kind is PrincipalKind.STAFF) != (self.role is not None):
            raise InvalidInput(
                "staff principals have a role, terminals do not", code="bad_principal"
            )
        if self.kind is PrincipalKind.STAFF and self.terminal_kind is not None:
            raise InvalidInput("staff principals have no terminal kind", code="bad_principal")
        platform = self.role is not None and self.role.is_platform
        if platform != (self.hospital_id is None):
            raise InvalidInput(
                "platform operators have no hospital, everyone else has one", code="bad_principal"
            )

    @property
    def hospital(self) -> str:
        """The caller's hospital; Forbidden for a platform operator, who acts for none."""
        if self.hospital_id is None:
            raise Forbidden(
                "platform operators act for the region, not inside a hospital",
                code="permission_denied",
            )
        return self.hospital_id

    @property
    def actor(self) -> str:
        """The caller as audit entries name it: `staff:<id>` or `terminal:<id>`."""
        return f"{self.kind.value}:{self.id}"


@dataclass(frozen=True)
class AccessPolicy:
    """The grant table plus per-role refund limits in fen (None: no limit beyond the grant)."""

    refund_limits_fen: Mapping[Role, int | None] = field(
        default_factory=lambda: {Role.CASHIER: 50_000, Role.ADMIN: None}
    )

    def permissions(self, principal: Principal) -> frozenset[Permission]:
        """Everything `principal` may do: a terminal by its registered kind (an `his` terminal
        also posts bills); one of unknown kind, what every kind may."""
        if principal.kind is PrincipalKind.TERMINAL:
            if principal.terminal_kind is None:
                return UNKNOWN_KIND_GRANTS
            return TERMINAL_KIND_GRANTS.get(principal.terminal_kind, frozenset())
        return ROLE_GRANTS.get(principal.role, frozenset()) if principal.role else frozenset()

    def roles_with(self, permission: Permission) -> tuple[Role, ...]:
        """The staff roles granted `permission`, in the order of `Role`."""
        return tuple(role for role in Role if permission in ROLE_GRANTS.get(role, frozenset()))

    def terminal_kinds_with(self, permission: Permission) -> tuple[TerminalKind, ...]:
        """The terminal kinds granted `permission`, in the order of `TerminalKind`."""
        return tuple(
            kind for kind in TerminalKind if permission in TERMINAL_KIND_GRANTS.get(kind, ())
        )

    def require(
        self,
        principal: Principal,
        permission: Permission,
        *,
        amount: int | None = None,
        hospital_id: str | None = None,
    ) -> None:
        """Raise Forbidden unless `principal` may do `permission` (amount in fen, hospital)."""
        if hospital_id is not None and hospital_id != principal.hospital_id:
            raise Forbidden("that belongs to another hospital", code="cross_hospital")
        if permission not in self.permissions(principal):
            raise Forbidden(f"{permission.value} is not allowed", code="permission_denied")
        if permission is Permission.PAYMENT_REFUND:
            self._check_refund(principal, amount)

    def _check_refund(self, principal: Principal, amount: int | None) -> None:
        if amount is not None and (isinstance(amount, bool) or amount <= 0):
            raise InvalidInput("refund amount must be a positive number of fen", code="bad_amount")
        # A role granted refunds but missing from the limits table refunds nothing (fail closed).
        limit = self.refund_limits_fen.get(principal.role, 0) if principal.role else 0
        if limit is None:
            return
        if amount is None:
            raise Forbidden(
                "refund amount must be checked against the limit", code="amount_unknown"
            )
        if amount > limit:
            raise Forbidden(
                f"refunds above {limit} fen need an admin", code="refund_limit_exceeded"
            )


def policy_with_cashier_limit(limit_fen: int) -> AccessPolicy:
    """The default policy with the cashier refund limit from settings."""
    if isinstance(limit_fen, bool) or limit_fen < 0:
        raise InvalidInput("refund limit must be >= 0 fen", code="bad_amount")
    return AccessPolicy(refund_limits_fen={Role.CASHIER: limit_fen, Role.ADMIN: None})


DEFAULT_POLICY = AccessPolicy()


def require(
    principal: Principal,
    permission: Permission,
    *,
    amount: int | None = None,
    hospital_id: str | None = None,
    policy: AccessPolicy = DEFAULT_POLICY,
) -> None:
    """Raise Forbidden unless allowed, using `policy` (the default limits unless configured)."""
    policy.require(principal, permission, amount=amount, hospital_id=hospital_id)
