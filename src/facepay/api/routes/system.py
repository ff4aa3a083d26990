"""Unversioned operational endpoints: health and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy.exc import SQLAlchemyError

from facepay import __version__
from facepay.api.deps import StateDep
from facepay.api.problems import errors
from facepay.api.schemas import HealthRead
from facepay.services.ports import StorageUnavailable

router = APIRouter(tags=["system"])


@router.get("/healthz", response_model=HealthRead, responses=errors(503))
def healthz(state: StateDep) -> HealthRead:
    """The process is up and its database answers."""
    try:
        with state.services.uow() as uow:
            uow.tenants.hospital("healthz")
    except SQLAlchemyError as exc:  # a database error no translation knew: still not healthy
        raise StorageUnavailable("the database does not answer") from exc
    return HealthRead(status="ok", version=__version__)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"}},
)
def metrics(state: StateDep) -> Response:
    """Prometheus metrics (text exposition format)."""
    return Response(state.metrics.exposition(), media_type="text/plain; version=0.0.4")
