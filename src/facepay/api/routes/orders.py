"""The pharmacy windows and the exam rooms: dispensing orders and service requests that a paid
bill created (facepay.services.orders), their pick-up, return, check-in, completion and result.

A window's queue is also a Server-Sent Events stream (`/events`): an order appears on it the
moment its payment commits, on whichever worker the stream and the payment ran.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import ExitStack, suppress
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from facepay.access.rbac import Permission, Principal, PrincipalKind
from facepay.api.access import may
from facepay.api.deps import IdempotencyKey, StateDep
from facepay.api.problems import errors
from facepay.api.push import EventCursor
from facepay.api.routes.bills import Code, Label, SplitRead, split_read
from facepay.api.schemas import Id, RequestModel, ResponseModel
from facepay.hospital import prompts
from facepay.hospital.orders import MAX_IMAGE_REF, MAX_SUMMARY, DispensingOrder, ServiceRequest
from facepay.services import dispensing, exams
from facepay.services.presence import Presence
from facepay.shared.errors import Forbidden

router = APIRouter(tags=["pharmacy and exams"])
Quantity = Annotated[Decimal, Field(gt=0, le=100_000, max_digits=12, decimal_places=4)]


class DispensingLineRead(ResponseModel):
    """One line at the window: ordered, handed over so far, still to hand over."""

    code: str
    name: str
    quantity: Decimal
    amount: int
    handed: Decimal
    remaining: Decimal
    state: Literal["waiting", "partial", "handed", "returned"]


class DispensingOrderRead(ResponseModel):
    """A dispensing order of one paid bill for one pharmacy window."""

    id: str
    bill_id: str
    person_id: str
    window: str
    status: Literal["queued", "partial", "done"]
    lines: list[DispensingLineRead]
    created_at: datetime
    updated_at: datetime


class QueueRead(ResponseModel):
    """A window's orders, oldest first."""

    window: str
    orders: list[DispensingOrderRead]


class PresenceRead(ResponseModel):
    """Who stood at the terminal: the patient, or a proxy with a live grant for the act."""

    patient: str
    present: str
    proxy_grant: str | None
    identification: str
    method: str


class HandedLineCreate(RequestModel):
    """How much of one line was handed over."""

    code: Code
    quantity: Quantity


class CollectionCreate(RequestModel):
    """The identification of whoever is at the window, and what the pharmacist handed over:
    every remaining line (no `lines`) or these quantities of these lines."""

    identification_id: Id
    lines: Annotated[list[HandedLineCreate], Field(min_length=1, max_length=200)] | None = None


class CollectionRead(ResponseModel):
    """The order after the pick-up, and who collected it."""

    order: DispensingOrderRead
    presence: PresenceRead
    prompt: str
    """One short sentence for the window's screen and voice."""


class ReturnCreate(RequestModel):
    """Lines not handed over that go back to the shelf, refunded by line."""

    line_codes: Annotated[list[Code], Field(min_length=1, max_length=200)]


class ReturnRead(ResponseModel):
    """The order after the return, and the refund (None when the cashier had refunded every
    returned line already)."""

    order: DispensingOrderRead
    refunded_fen: int
    reversed_settlement_id: str | None
    resettlement: SplitRead | None
    replayed: bool


class ServiceRequestRead(ResponseModel):
    """An exam or lab test on its department's worklist (never the report)."""

    id: str
    bill_id: str
    line_code: str
    name: str
    kind: str
    department: str
    ordered_by: str
    person_id: str
    status: Literal["requested", "checked_in", "done", "reported"]
    created_at: datetime
    checked_in_at: datetime | None
    done_at: datetime | None
    ready_at: datetime | None


class WorklistRead(ResponseModel):
    """A department's requests, oldest first."""

    department: str
    requests: list[ServiceRequestRead]


class ExamCheckInCreate(RequestModel):
    """The identification of the patient (or proxy) at the exam room."""

    identification_id: Id


class ExamCheckInRead(ResponseModel):
    """The request after check-in, and who checked in."""

    request: ServiceRequestRead
    presence: PresenceRead
    prompt: str
    """One short sentence for the exam room's screen and voice."""


class ResultCreate(RequestModel):
    """A report from the LIS/PACS: a summary, a conclusion, where the images are (a DICOM Study
    Instance UID or a URL; never image data)."""

    summary: Annotated[str, Field(min_length=1, max_length=MAX_SUMMARY)]
    conclusion: Literal["normal", "abnormal", "critical"]
    image_ref: Annotated[str, Field(min_length=1, max_length=MAX_IMAGE_REF)] | None = None
    performed_at: datetime


class ResultRead(ResponseModel):
    """The report, for the ordering doctor."""

    request_id: str
    department: str
    person_id: str
    summary: str
    conclusion: str
    image_ref: str | None
    performed_at: datetime
    recorded_at: datetime


class ResultStatusRead(ResponseModel):
    """Whether one request's result is ready (the patient's view: no report)."""

    request: str
    name: str
    department: str
    status: str
    ready: bool
    ready_at: datetime | None


class ResultsStatusRead(ResponseModel):
    """A patient's latest requests at this site, newest first."""

    person_id: str
    results: list[ResultStatusRead]


def order_read(order: DispensingOrder) -> DispensingOrderRead:
    """The API form of a dispensing order."""
    return DispensingOrderRead(
        id=order.id,
        bill_id=order.bill_id,
        person_id=order.person_id,
        window=order.window,
        status=order.status,
        lines=[
            DispensingLineRead(
                code=line.code,
                name=line.name,
                quantity=line.quantity,
                amount=line.amount,
                handed=line.handed,
                remaining=line.remaining,
                state=line.state,
            )
            for line in order.lines
        ],
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


def request_read(request: ServiceRequest) -> ServiceRequestRead:
    """The API form of a service request."""
    fields = {k: v for k, v in request.__dict__.items() if k != "result"}
    return ServiceRequestRead(**fields, ready_at=request.ready_at)


def presence_read(presence: Presence) -> PresenceRead:
    """Who stood at the terminal."""
    return PresenceRead.model_validate(presence.audit_details())


# --- The pharmacy window ---------------------------------------------------------------------


@router.get(
    "/v1/pharmacy/windows/{window}/queue",
    response_model=QueueRead,
    responses=errors(401, 403, 422, 429),
)
def window_queue(
    window: Label,
    state: StateDep,
    who: Annotated[Principal, may(Permission.DISPENSING_READ)],
    include_done: bool = False,
) -> QueueRead:
    """A pharmacy window's orders still to hand over (or all of them), oldest first."""
    orders = dispensing.window_queue(
        ctx=state.services, hospital_id=who.hospital, window=window, open_only=not include_done
    )
    return QueueRead(window=window, orders=[order_read(order) for order in orders])


@router.get(
    "/v1/pharmacy/windows/{window}/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "An event stream"},
        **errors(401, 403, 422, 429),
    },
)
async def window_events(
    window: Label,
    request: Request,
    state: StateDep,
    who: Annotated[Principal, may(Permission.DISPENSING_READ)],
    last_event_id: Annotated[
        int | None, Header(alias="Last-Event-ID", ge=0, le=2**62, include_in_schema=True)
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events of a window: `dispensing.created`, `.collected`, `.returned` with the
    order, from now on (or after `Last-Event-ID`), and a comment line as a heartbeat."""
    hospital = who.hospital
    stack = ExitStack()
    woken = stack.enter_context(state.push.subscribe(hospital))  # 429 past the site's bound
    try:
        start = last_event_id
        if start is None:
            start = await run_in_threadpool(
                dispensing.last_event, ctx=state.services, hospital_id=hospital, window=window
            )
    except BaseException:
        stack.close()
        raise
    settings = state.services.settings
    return StreamingResponse(
        _stream(
            request,
            state,
            hospital=hospital,
            window=window,
            cursor=EventCursor(start),
            woken=woken,
            poll=settings.pharmacy_stream_poll_ms / 1000,
            heartbeat=settings.pharmacy_stream_heartbeat_seconds,
            lifetime=settings.pharmacy_stream_max_seconds,
            stack=stack,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _stream(
    request: Request,
    state: StateDep,
    *,
    hospital: str,
    window: str,
    cursor: EventCursor,
    woken: asyncio.Event,
    poll: float,
    heartbeat: float,
    lifetime: float,
    stack: ExitStack,
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    ctx = state.services
    try:
        yield f": window {window}, after event {cursor.floor}\nretry: 2000\n\n"
        ends, beat = loop.time() + lifetime, loop.time() + heartbeat
        while loop.time() < ends and not await request.is_disconnected():
            woken.clear()  # before looking: a wake-up during the look is not lost
            head = await run_in_threadpool(
                dispensing.last_event, ctx=ctx, hospital_id=hospital, window=window
            )
            if head > cursor.floor:
                found = await run_in_threadpool(
                    dispensing.events_after,
                    ctx=ctx,
                    hospital_id=hospital,
                    window=window,
                    after=cursor.floor,
                )
                fresh = set(cursor.fresh([event.seq for event, _ in found]))
                for event, order in found:
                    if event.seq in fresh:
                        body = {
                            "kind": event.kind,
                            "at": event.at.isoformat(),
                            "order": order_read(order).model_dump(mode="json"),
                        }
                        data = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
                        yield f"id: {event.seq}\nevent: dispensing.{event.kind}\ndata: {data}\n\n"
                cursor.advance(loop.time())
                if fresh:
                    beat = loop.time() + heartbeat
                    continue
            if loop.time() >= beat:
                yield ": heartbeat\n\n"
                beat = loop.time() + heartbeat
            with suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), timeout=poll)
    finally:
        stack.close()


@router.get(
    "/v1/dispensing-orders/{order_id}",
    response_model=DispensingOrderRead,
    responses=errors(401, 403, 404, 422, 429),
)
def get_order(
    order_id: Id, state: StateDep, who: Annotated[Principal, may(Permission.DISPENSING_READ)]
) -> DispensingOrderRead:
    """One dispensing order of the caller's hospital."""
    order = dispensing.get_order(ctx=state.services, hospital_id=who.hospital, order_id=order_id)
    return order_read(order)


@router.post(
    "/v1/dispensing-orders/{order_id}/collection",
    status_code=status.HTTP_201_CREATED,
    response_model=CollectionRead,
    responses=errors(401, 403, 404, 409, 422, 429),
)
def collect(
    order_id: Id,
    body: CollectionCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PRESCRIPTION_DISPENSE)],
) -> CollectionRead:
    """The pharmacist hands over the order (or part of it) to the patient or proxy identified
    at the window (face 1:1 or 1:N, or ID number + insurance card)."""
    handed: dict[str, Decimal] | None = None
    if body.lines is not None:
        handed = {}
        for line in body.lines:
            handed[line.code] = handed.get(line.code, Decimal(0)) + line.quantity
    done = dispensing.collect(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        order_id=order_id,
        identification_id=body.identification_id,
        staff_confirmed=who.kind is PrincipalKind.STAFF,
        handed=handed,
    )
    state.push.notify(who.hospital)
    return CollectionRead(
        order=order_read(done.order),
        presence=presence_read(done.presence),
        prompt=prompts.collected(done.order.status),
    )


@router.post(
    "/v1/dispensing-orders/{order_id}/returns",
    status_code=status.HTTP_201_CREATED,
    response_model=ReturnRead,
    responses=errors(401, 403, 404, 409, 422, 429, 503),
)
def return_lines(
    order_id: Id,
    body: ReturnCreate,
    key: IdempotencyKey,
    state: StateDep,
    who: Annotated[Principal, may(Permission.PRESCRIPTION_DISPENSE)],
) -> ReturnRead:
    """Lines not handed over go back to the shelf and are refunded by line (the rest of the
    bill is settled again), once per key."""
    done = dispensing.return_lines(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        order_id=order_id,
        line_codes=body.line_codes,
        reversal_key=f"{who.hospital}:{key}",
    )
    state.push.notify(who.hospital)
    refund = done.refund
    return ReturnRead(
        order=order_read(done.order),
        refunded_fen=refund.refunded_fen if refund else 0,
        reversed_settlement_id=refund.reversal.record.id if refund else None,
        resettlement=split_read(refund.resettlement.record.settlement)
        if refund and refund.resettlement
        else None,
        replayed=done.replayed,
    )


# --- Exams and lab tests ---------------------------------------------------------------------


@router.get(
    "/v1/worklists/{department}",
    response_model=WorklistRead,
    responses=errors(401, 403, 422, 429),
)
def worklist(
    department: Label,
    state: StateDep,
    who: Annotated[Principal, may(Permission.EXAM_READ)],
    status_: Annotated[
        list[Literal["requested", "checked_in", "done", "reported"]] | None,
        Query(alias="status", max_length=4),
    ] = None,
) -> WorklistRead:
    """A department's requests (by default those not reported yet), oldest first."""
    found = exams.worklist(
        ctx=state.services,
        hospital_id=who.hospital,
        department=department,
        statuses=status_ or exams.OPEN,
    )
    return WorklistRead(department=department, requests=[request_read(r) for r in found])


@router.get(
    "/v1/service-requests/{request_id}",
    response_model=ServiceRequestRead,
    responses=errors(401, 403, 404, 422, 429),
)
def get_request(
    request_id: Id, state: StateDep, who: Annotated[Principal, may(Permission.EXAM_READ)]
) -> ServiceRequestRead:
    """One service request of the caller's hospital (without the report)."""
    found = exams.get_request(ctx=state.services, hospital_id=who.hospital, request_id=request_id)
    return request_read(found)


@router.post(
    "/v1/service-requests/{request_id}/check-in",
    status_code=status.HTTP_201_CREATED,
    response_model=ExamCheckInRead,
    responses=errors(401, 403, 404, 409, 422, 429),
)
def check_in(
    request_id: Id,
    body: ExamCheckInCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.EXAM_CHECK_IN)],
) -> ExamCheckInRead:
    """The patient (or proxy) identified at the exam room checks in; a card identification
    needs a staff member to confirm."""
    done = exams.check_in(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        request_id=request_id,
        identification_id=body.identification_id,
        staff_confirmed=who.kind is PrincipalKind.STAFF,
    )
    return ExamCheckInRead(
        request=request_read(done.request),
        presence=presence_read(done.presence),
        prompt=prompts.exam_checked_in(),
    )


@router.post(
    "/v1/service-requests/{request_id}/done",
    response_model=ServiceRequestRead,
    responses=errors(401, 403, 404, 409, 422, 429),
)
def complete(
    request_id: Id, state: StateDep, who: Annotated[Principal, may(Permission.EXAM_COMPLETE)]
) -> ServiceRequestRead:
    """The department marks a checked-in request done."""
    done = exams.complete(
        ctx=state.services, hospital_id=who.hospital, actor=who.actor, request_id=request_id
    )
    return request_read(done)


@router.post(
    "/v1/service-requests/{request_id}/result",
    status_code=status.HTTP_201_CREATED,
    response_model=ServiceRequestRead,
    responses=errors(401, 403, 404, 409, 422, 429),
)
def record_result(
    request_id: Id,
    body: ResultCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.EXAM_RESULT_RECORD, staff=False)],
) -> ServiceRequestRead:
    """The LIS/PACS reports a done request: summary, conclusion, image reference (no images)."""
    done = exams.record_result(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        request_id=request_id,
        summary=body.summary,
        conclusion=body.conclusion,
        image_ref=body.image_ref,
        performed_at=body.performed_at,
    )
    return request_read(done)


@router.get(
    "/v1/service-requests/{request_id}/result",
    response_model=ResultRead,
    responses=errors(401, 403, 404, 409, 422, 429),
)
def read_result(
    request_id: Id,
    state: StateDep,
    who: Annotated[Principal, may(Permission.EXAM_RESULT_READ, terminals=False)],
) -> ResultRead:
    """The report, for the doctor who ordered it (audited)."""
    found = exams.read_result(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        staff_id=who.id,
        request_id=request_id,
    )
    result = found.result
    assert result is not None
    return ResultRead(
        request_id=found.id,
        department=found.department,
        person_id=found.person_id,
        summary=result.summary,
        conclusion=result.conclusion,
        image_ref=result.image_ref,
        performed_at=result.performed_at,
        recorded_at=result.recorded_at,
    )


@router.get(
    "/v1/patients/{person_id}/results-status",
    response_model=ResultsStatusRead,
    responses=errors(401, 403, 404, 409, 422, 429),
)
def results_status(
    person_id: Id,
    state: StateDep,
    who: Annotated[Principal, may(Permission.EXAM_STATUS_READ)],
    identification_id: Id | None = None,
) -> ResultsStatusRead:
    """Whether the patient's results are ready, never the reports; a terminal shows them only to
    the patient it identified (`identification_id`, not used up by reading)."""
    if who.kind is PrincipalKind.TERMINAL and identification_id is None:
        raise Forbidden(
            "a terminal shows results to the identified patient only",
            code="identification_required",
        )
    found = exams.results_status(
        ctx=state.services,
        hospital_id=who.hospital,
        person_id=person_id,
        identification_id=identification_id,
    )
    return ResultsStatusRead(
        person_id=person_id,
        results=[
            ResultStatusRead(
                request=r.id,
                name=r.name,
                department=r.department,
                status=r.status,
                ready=r.result is not None,
                ready_at=r.ready_at,
            )
            for r in found
        ],
    )
