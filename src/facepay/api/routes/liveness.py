"""GET /v1/liveness/decisions/{id}: why liveness refused a capture, for the hospital's staff."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import Field

from facepay.access.rbac import Permission, Principal
from facepay.api.access import may
from facepay.api.deps import StateDep
from facepay.api.problems import errors
from facepay.api.schemas import ResponseModel
from facepay.services.liveness_decisions import liveness_decision

router = APIRouter(prefix="/v1/liveness", tags=["liveness"])


class LivenessCheckRead(ResponseModel):
    """One check of the liveness policy, as it ran on the capture."""

    name: str
    applicable: bool
    passed: bool
    score: float
    reason: str
    details: dict[str, float] = Field(default_factory=dict)
    """The measurements behind the verdict (for tuning the thresholds)."""


class LivenessDecisionRead(ResponseModel):
    """A refused capture: what the patient was told is `decision`; `reason` and `checks` are
    for staff (and for tuning), never shown to the patient."""

    id: str
    hospital_id: str
    at: datetime
    caller: str
    decision: str
    attack: str | None
    reason: str
    checks: list[LivenessCheckRead]


@router.get(
    "/decisions/{decision_id}",
    response_model=LivenessDecisionRead,
    responses=errors(401, 403, 404, 422, 429),
)
def get_decision(
    decision_id: str,
    state: StateDep,
    who: Annotated[Principal, may(Permission.LIVENESS_READ)],
) -> LivenessDecisionRead:
    """The checks, scores and reasons behind a liveness refusal (its `decision_id` is in the
    refusal's problem body): the hospital's own refusals; the platform operator's, any."""
    found = liveness_decision(
        ctx=state.services, hospital_id=who.hospital_id, decision_id=decision_id
    )
    return LivenessDecisionRead.model_validate(found, from_attributes=True)
