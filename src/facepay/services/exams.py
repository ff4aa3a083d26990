"""Exams and lab tests: the department's worklist, check-in at the exam room by face, done,
the result from the LIS/PACS, read by the ordering doctor alone; the patient sees that results
are ready, never the report.

A check-in consumes an identification of this site as proof that the patient (or a proxy with
a live `check_in` grant) is at the exam room; a card identification needs a staff member there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from facepay.hospital.orders import Conclusion, ExamResult, RequestStatus, ServiceRequest
from facepay.services.bills import hospital_bill
from facepay.services.context import Services
from facepay.services.ports import UnitOfWork
from facepay.services.presence import Presence, attend
from facepay.services.support import audit
from facepay.shared.errors import Conflict, Forbidden, NotFound

WORKLIST_LIMIT = 200
STATUS_LIMIT = 50
OPEN: tuple[RequestStatus, ...] = ("requested", "checked_in", "done")


@dataclass(frozen=True)
class CheckIn:
    """The request after check-in, and who stood at the exam room."""

    request: ServiceRequest
    presence: Presence


def worklist(
    *,
    ctx: Services,
    hospital_id: str,
    department: str,
    statuses: Sequence[RequestStatus] = OPEN,
) -> list[ServiceRequest]:
    """A department's requests in these statuses, oldest first."""
    with ctx.uow() as uow:
        return uow.orders.worklist(
            hospital_id, department, statuses=list(statuses), limit=WORKLIST_LIMIT
        )


def get_request(*, ctx: Services, hospital_id: str, request_id: str) -> ServiceRequest:
    """One service request of the caller's hospital (without its report: see read_result)."""
    with ctx.uow() as uow:
        return _request(uow, request_id, hospital_id)


def check_in(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    request_id: str,
    identification_id: str,
    staff_confirmed: bool,
) -> CheckIn:
    """The patient (or their proxy) identified at the exam room checks in for the request."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        request = _request(uow, request_id, hospital_id)
        _still_paid(uow, request)
        checked = request.check_in(at=now)
        presence = attend(
            uow,
            identification_id=identification_id,
            hospital_id=hospital_id,
            patient_id=request.person_id,
            act="check_in",
            used_for=request.id,
            now=now,
            staff_confirmed=staff_confirmed,
        )
        uow.orders.save_request(checked)
        audit(
            ctx,
            uow,
            actor=actor,
            action="exam.check_in",
            subject=request.id,
            details={
                "hospital": hospital_id,
                "department": request.department,
                **presence.audit_details(),
            },
        )
        uow.commit()
    return CheckIn(checked, presence)


def complete(*, ctx: Services, hospital_id: str, actor: str, request_id: str) -> ServiceRequest:
    """The department marks a checked-in request done."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        done = _request(uow, request_id, hospital_id).complete(at=now)
        uow.orders.save_request(done)
        audit(
            ctx,
            uow,
            actor=actor,
            action="exam.done",
            subject=done.id,
            details={"hospital": hospital_id, "department": done.department},
        )
        uow.commit()
    return done


def record_result(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    request_id: str,
    summary: str,
    conclusion: Conclusion,
    image_ref: str | None,
    performed_at: datetime,
) -> ServiceRequest:
    """The LIS/PACS reports a done request: a summary, a conclusion, where the images are."""
    now = ctx.clock.now()
    result = ExamResult(
        summary=summary,
        conclusion=conclusion,
        image_ref=image_ref,
        performed_at=performed_at,
        recorded_at=now,
        recorded_by=actor,
    )
    with ctx.uow() as uow:
        reported = _request(uow, request_id, hospital_id).report(result)
        uow.orders.save_request(reported)
        audit(
            ctx,
            uow,
            actor=actor,
            action="exam.result",
            subject=reported.id,
            details={
                "hospital": hospital_id,
                "conclusion": conclusion,
                "image_ref": image_ref,
                "ordered_by": reported.ordered_by,
            },
        )
        uow.commit()
    return reported


def read_result(
    *, ctx: Services, hospital_id: str, actor: str, staff_id: str, request_id: str
) -> ServiceRequest:
    """The report, for the doctor who ordered it (another doctor: `not_the_ordering_doctor`);
    every reading is audited."""
    with ctx.uow() as uow:
        request = _request(uow, request_id, hospital_id)
        if staff_id != request.ordered_by:
            raise Forbidden(
                "only the ordering doctor reads this result", code="not_the_ordering_doctor"
            )
        if request.result is None:
            raise Conflict("the result is not back yet", code="result_not_ready")
        audit(
            ctx,
            uow,
            actor=actor,
            action="exam.result_read",
            subject=request.id,
            details={"hospital": hospital_id, "person": request.person_id},
        )
        uow.commit()
    return request


def results_status(
    *,
    ctx: Services,
    hospital_id: str,
    person_id: str,
    identification_id: str | None,
) -> list[ServiceRequest]:
    """A patient's latest requests at this site and whether each result is ready. A terminal
    shows them only to the patient it identified (`identification_id`: a match of this person
    at this site that has not expired; reading does not use it up)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        if identification_id is not None:
            found = uow.identifications.get(identification_id, hospital_id)
            if found is None:
                raise NotFound("no such identification")
            if now > found.expires_at:
                raise Conflict("this identification has expired", code="identification_expired")
            if found.decision != "match" or found.person_id != person_id:
                raise Forbidden("this identification is not of the patient", code="not_the_patient")
        return uow.orders.requests_of_person(hospital_id, person_id, limit=STATUS_LIMIT)


def _still_paid(uow: UnitOfWork, request: ServiceRequest) -> None:
    """A request whose line was refunded since is not performed."""
    bill = hospital_bill(uow, request.bill_id, request.hospital_id)
    if bill.status != "paid" or request.line_code not in {line.code for line in bill.bill.lines}:
        raise Conflict("the exam was refunded", code="request_refunded")


def _request(uow: UnitOfWork, request_id: str, hospital_id: str) -> ServiceRequest:
    request = uow.orders.request(request_id, hospital_id)
    if request is None:
        raise NotFound("no such service request")
    return request
