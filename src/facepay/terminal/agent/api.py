"""The agent's local HTTP API, for the kiosk page and `facepay kiosk`, on the loopback address
only (docs/terminal.md describes it). Thin: parse, call the agent, answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from facepay.api.limits import BodySizeLimit
from facepay.terminal.agent.link import ServerOffline
from facepay.terminal.agent.service import Agent, ServerRefused

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
STATUS_OF = {"paid": 201, "refused": 422, "unknown": 503}
MAX_BODY_BYTES = 8 * 1024 * 1024
"""The server's own default body limit: a capture the server would take fits, and a body built
to exhaust the kiosk machine's memory is refused (413) before it is read."""


class PaymentCreate(BaseModel):
    """A payment: the bill, the patient's capture (the server's `CaptureCreate` shape) and,
    on a retry, the idempotency key the first answer gave."""

    model_config = ConfigDict(extra="forbid")

    bill_id: Id
    capture: dict[str, Any]
    idempotency_key: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:\-]{8,128}$")] | None = None


def create_app(agent: Agent) -> FastAPI:
    """The local API over one running agent."""
    app = FastAPI(
        title="facepay terminal agent",
        summary="The local API of one terminal (loopback only).",
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)

    @app.get("/status")
    def status() -> dict[str, Any]:
        """Mode, outbox depth, oldest unsynced age, library age, limits in force, last error."""
        return agent.status()

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus metrics of this agent."""
        return Response(agent.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.post("/challenges", status_code=201)
    def challenge() -> JSONResponse:
        """A liveness challenge: the server's when online, a local one offline; 502 with the
        server's code when the server refuses (a revoked terminal does not go offline)."""
        try:
            return JSONResponse(agent.challenge(), status_code=201)
        except ServerRefused as refused:
            body = {"code": refused.code, "message": refused.message, "status": refused.status}
            return JSONResponse(body, status_code=502)

    @app.post("/payments")
    def pay(body: PaymentCreate) -> JSONResponse:
        """Pay a bill by face: 201 paid (online or offline), 422 refused (the sentence to show),
        503 sent but not confirmed (retry with the same idempotency_key)."""
        outcome = agent.pay(
            bill_id=body.bill_id, capture=body.capture, idempotency_key=body.idempotency_key
        )
        return JSONResponse(outcome.to_json(), status_code=STATUS_OF[outcome.status])

    @app.post("/sync")
    def sync() -> JSONResponse:
        """Refresh the package and upload the outbox now ("sync now" once the network is back):
        200 with what the upload did, 503 when the server cannot be reached."""
        try:
            report = agent.sync_now()
        except ServerOffline as offline:
            gone = {"mode": agent.mode(), "error": offline.message, "outbox": agent.outbox()}
            return JSONResponse(gone, status_code=503)
        body: dict[str, Any] = {
            "mode": agent.mode(),
            "sent": report.sent,
            "by_status": report.by_status,
            "replayed": report.replayed,
            "error": report.error,
            "outbox": agent.outbox(),
        }
        return JSONResponse(body, status_code=200)

    @app.get("/notices/{person_id}")
    def notices(
        person_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")],
    ) -> dict[str, Any]:
        """Arrears and refunds due from earlier offline payments, to show the patient."""
        return {"person_id": person_id, "notices": agent.notices(person_id)}

    return app
