"""Helpers shared by the use cases: liveness gate, probe embedding, audit, masking, limits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NoReturn

from facepay.hospital.bills import PointOfSale
from facepay.hospital.tenants import Hospital
from facepay.services.context import Services, Storage
from facepay.services.ports import UnitOfWork
from facepay.shared.errors import InvalidInput, NotFound
from facepay.shared.ids import new_id
from facepay.supervision.redaction import check_safe_details
from facepay.vision.liveness import Capture, Decision, LivenessDecision, TerminalCapabilities
from facepay.vision.liveness.policy import check_challenge
from facepay.vision.types import Embedding
from facepay.vision.verification import capture_embedding as embed_capture

IDENTIFY_FRAMES = 2
"""The first and last frames: liveness's identity check has embedded exactly those already."""
ENROL_FRAMES = 5


class LivenessRefused(InvalidInput):
    """The capture did not show a live person (`liveness_spoof`) or must be retaken
    (`liveness_retry`); `message` is what the patient is told, `decision_id` where staff read
    why (the audit entry of the refusal: every check, its score and reason)."""

    code = "liveness_retry"

    def __init__(self, decision: LivenessDecision, decision_id: str) -> None:
        super().__init__(decision.message, code=f"liveness_{decision.decision.value}")
        self.decision = decision
        self.decision_id = decision_id

    def problem_extensions(self, *, dev: bool) -> dict[str, object]:
        """Members the API adds to the problem: the decision id always; in the dev environment
        the checks themselves, so that an integrator sees at once why a capture was refused."""
        extra: dict[str, object] = {"decision_id": self.decision_id}
        if dev:
            extra["liveness"] = liveness_details(self.decision)
        return extra


def _measure(name: str) -> str:
    """A measurement's name as the audit log accepts it: one that reads like a biometric field
    (`moving_frames`) gets `_value` appended, since audit details never hold biometric data."""
    try:
        check_safe_details({name: 0})
    except InvalidInput:
        return f"{name}_value"
    return name


def _decimal(value: float) -> str:
    """A score as the audit log keeps numbers that are not money: a decimal string (its
    canonical JSON has no floats)."""
    return f"{float(value):.4f}"


LIVENESS_REFUSED = "liveness.refused"
"""The audit action of a refused capture; its subject is the decision id."""


def liveness_details(decision: LivenessDecision) -> dict[str, object]:
    """What the audit entry of a refusal keeps: the verdict and every check with its score."""
    return {
        "decision": decision.decision.value,
        "attack": decision.attack.value if decision.attack else None,
        "reason": decision.reason,
        "checks": [
            {
                "name": check.name,
                "applicable": check.applicable,
                "passed": check.passed,
                "score": _decimal(check.score),
                "reason": check.reason,
                "details": {_measure(k): _decimal(v) for k, v in check.details.items()},
            }
            for check in decision.checks
        ],
    }


def audit(
    ctx: Storage,
    uow: UnitOfWork,
    *,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, object] | None = None,
) -> None:
    """Append an audit entry inside `uow` (committed with the change it records)."""
    ctx.audit_log(uow).record(actor=actor, action=action, subject=subject, details=details)


def require_hospital(uow: UnitOfWork, hospital_id: str) -> Hospital:
    """The site (`NotFound` unless it exists; checked inside the caller's transaction)."""
    site = uow.tenants.hospital(hospital_id)
    if site is None:
        raise NotFound("no such hospital")
    return site


def require_live(ctx: Services, *, capture: Capture, hospital_id: str, actor: str) -> None:
    """Run the liveness policy; a refusal is audited (in its own transaction) and raised."""
    decision = ctx.liveness.evaluate(capture=capture, book=ctx.challenges, now=ctx.clock.now())
    if decision.decision is not Decision.LIVE:
        _refuse_liveness(ctx, decision, hospital_id=hospital_id, actor=actor)


def require_live_assisted(
    ctx: Services, *, capture: Capture, hospital_id: str, actor: str
) -> LivenessDecision:
    """The liveness policy's assisted decision (a patient who cannot act; staff film), refused
    and audited like `require_live`; returns the decision for the caller's audit entry."""
    decision = ctx.liveness.evaluate_assisted(capture=capture)
    if decision.decision is not Decision.LIVE:
        _refuse_liveness(ctx, decision, hospital_id=hospital_id, actor=actor)
    return decision


def require_fresh_challenge(
    ctx: Services,
    *,
    hospital_id: str,
    actor: str,
    nonce: str | None,
    started_at: datetime,
    ended_at: datetime,
    capabilities: TerminalCapabilities,
) -> None:
    """Refuse, before a single frame is decoded, a capture whose challenge the liveness policy
    would refuse (unknown, used, expired, predated); the nonce is not spent here."""
    _, refusal = check_challenge(
        nonce=nonce,
        started_at=started_at,
        ended_at=ended_at,
        capabilities=capabilities,
        book=ctx.challenges,
        now=ctx.clock.now(),
        consume=False,
    )
    if refusal is not None:
        _refuse_liveness(ctx, refusal, hospital_id=hospital_id, actor=actor)


def _refuse_liveness(
    ctx: Services, decision: LivenessDecision, *, hospital_id: str, actor: str
) -> NoReturn:
    decision_id = new_id("lvd")
    details = {"hospital": hospital_id, **liveness_details(decision)}
    with ctx.uow() as uow:
        audit(ctx, uow, actor=actor, action=LIVENESS_REFUSED, subject=decision_id, details=details)
        uow.commit()
    raise LivenessRefused(decision, decision_id)


def capture_embedding(ctx: Services, capture: Capture, *, frames: int) -> Embedding:
    """Mean embedding of up to `frames` good-quality frames spread over the capture, the first
    and last frames first (the engine's cache holds their faces and embeddings from liveness)."""
    return embed_capture(ctx.engine, [f.rgb for f in capture.frames], count=frames)


def face_pay_limit(ctx: Services, point_of_sale: PointOfSale) -> int:
    """Fen from which a face payment needs a second factor (INSURANCE.md §5)."""
    s = ctx.settings
    return s.face_pay_limit_pharmacy_fen if point_of_sale == "pharmacy" else s.face_pay_limit_fen


def mask_name(name: str) -> str:
    """`张*` for `张三`, `O****` for `Obama`: enough for a patient to recognise, no more."""
    return name[:1] + "*" * max(len(name) - 1, 1)
