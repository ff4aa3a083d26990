"""Why a capture was refused, for staff: the audit entry `liveness.refused` of a decision.

The patient is told one sentence; the entry keeps the verdict, the attack it looked like, and
every check with its score and reason. A hospital's staff read their hospital's refusals only
(its audit chain); the platform operator reads any hospital's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from facepay.services.context import Storage
from facepay.services.support import LIVENESS_REFUSED
from facepay.shared.errors import NotFound


@dataclass(frozen=True, slots=True)
class LivenessDecisionRecord:
    """One refused capture as its audit entry recorded it."""

    id: str
    hospital_id: str
    at: datetime
    caller: str
    decision: str
    attack: str | None
    reason: str
    checks: list[dict[str, Any]]


def liveness_decision(
    *, ctx: Storage, hospital_id: str | None, decision_id: str
) -> LivenessDecisionRecord:
    """The refusal `decision_id` of the caller's hospital (any hospital: `hospital_id` None)."""
    with ctx.uow() as uow:
        chains = [hospital_id] if hospital_id is not None else uow.audit.chains()
        for chain in chains:
            for entry in uow.audit.by_subject(chain, decision_id):
                if entry.action != LIVENESS_REFUSED:
                    continue
                details = entry.details
                attack, checks = details.get("attack"), details.get("checks")
                return LivenessDecisionRecord(
                    id=decision_id,
                    hospital_id=str(details.get("hospital", chain)),
                    at=entry.at,
                    caller=entry.actor,
                    decision=str(details.get("decision", "")),
                    attack=attack if isinstance(attack, str) else None,
                    reason=str(details.get("reason", "")),
                    checks=[dict(c) for c in checks if isinstance(c, dict)]
                    if isinstance(checks, list)
                    else [],
                )
    raise NotFound("no such liveness decision")
