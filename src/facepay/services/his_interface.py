"""Use cases of a hospital system's interface that the others do not cover: linking its patient
ids to insured persons, attaching its order data to the lines of an open bill, and running
other use cases inside one transaction with the message that asked for them.

The HIS cannot create insured persons (the registry is the bureau's): it links the patient id
it knows (its medical record number) to a person found by ID number, and later messages name
the patient by that id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import Self, cast

from facepay.hospital.bills import LineOrder, PostedBill
from facepay.identity.id_card import normalise_id_number
from facepay.services.context import Services
from facepay.services.his_messages import HisPatient
from facepay.services.ports import UnitOfWork
from facepay.services.support import audit, require_hospital
from facepay.shared.errors import Conflict, InvalidInput, NotFound

MAX_PATIENT_ID = 64


class _Joined:
    """A unit of work that is the caller's: `with` and `commit` leave the transaction to it."""

    def __init__(self, outer: UnitOfWork) -> None:
        self._outer = outer

    def __getattr__(self, name: str) -> object:
        return getattr(self._outer, name)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def commit(self) -> None:
        """The outer unit of work commits (or rolls back) everything at once."""

    def rollback(self) -> None:
        """An inner rollback would undo the outer's work: refused loudly."""
        raise RuntimeError("a joined unit of work cannot roll back on its own")


def joined(ctx: Services, uow: UnitOfWork) -> Services:
    """`ctx` whose units of work are all `uow`: use cases called with it commit together with
    whatever the caller does in `uow`, or not at all."""
    factory: Callable[[], UnitOfWork] = lambda: cast(UnitOfWork, _Joined(uow))  # noqa: E731
    return dataclasses.replace(ctx, uow=factory)


def link_patient(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    his_patient_id: str,
    id_number: str,
    name: str | None,
) -> HisPatient:
    """Link the hospital system's patient id to the insured person with this ID number (and, if
    given, this name: a mismatch is refused rather than linking the wrong person)."""
    if (
        not his_patient_id
        or len(his_patient_id) > MAX_PATIENT_ID
        or not his_patient_id.isprintable()
    ):
        raise InvalidInput(
            f"patient id: 1 to {MAX_PATIENT_ID} printable characters", code="bad_his_patient_id"
        )
    number = normalise_id_number(id_number)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        person = uow.people.by_id_number(number)
        if person is None:
            raise NotFound("the ID number is not in the insurance registry", code="not_insured")
        if name and name.replace(" ", "") != person.name.replace(" ", ""):
            raise InvalidInput(
                "the name differs from the insurance registry's", code="his_name_mismatch"
            )
        seen = uow.hl7.patient(hospital_id, his_patient_id)
        if seen is not None and seen.person_id == person.id:
            return seen
        link = HisPatient(
            hospital_id=hospital_id,
            his_patient_id=his_patient_id,
            person_id=person.id,
            linked_at=seen.linked_at if seen else now,
            updated_at=now,
        )
        uow.hl7.link_patient(link)
        audit(
            ctx,
            uow,
            actor=actor,
            action="his.patient_link",
            subject=person.id,
            details={
                "hospital": hospital_id,
                "his_patient": his_patient_id,
                "replaced": seen.person_id if seen else None,
            },
        )
        uow.commit()
    return link


def linked_person(*, ctx: Services, hospital_id: str, his_patient_id: str) -> str | None:
    """The person id linked to the hospital system's patient id at the site, if any."""
    with ctx.uow() as uow:
        link = uow.hl7.patient(hospital_id, his_patient_id)
    return link.person_id if link else None


def order_lines(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    external_ref: str,
    person_id: str,
    orders: tuple[LineOrder, ...],
) -> PostedBill:
    """Attach order data (kind, department, ordering doctor's staff id) to lines of an open
    bill of the site; its exams and lab tests reach the worklists when it is paid
    (facepay.services.orders.on_paid). Order data already there for another line stays."""
    with ctx.uow() as uow:
        posted = uow.bills.by_external_ref(hospital_id, external_ref)
        if posted is None or posted.person_id != person_id:
            raise NotFound("no open bill of this patient under that visit", code="no_such_bill")
        if posted.status != "open":
            raise Conflict(f"the bill is {posted.status}", code=f"bill_{posted.status}")
        codes = {line.code for line in posted.bill.lines}
        for order in orders:
            if order.code not in codes:
                raise InvalidInput(f"the bill has no line {order.code}", code="bad_line_order")
            staff = uow.tenants.staff_by_id(order.ordered_by) if order.ordered_by else None
            if order.ordered_by and (
                staff is None
                or (staff.hospital_id, staff.role, staff.active) != (hospital_id, "doctor", True)
            ):
                raise InvalidInput(
                    "the ordering doctor is not a doctor of this hospital",
                    code="bad_ordering_doctor",
                )
        wanted = {order.code: order for order in orders}
        kept = tuple(o for o in posted.orders if o.code not in wanted)
        changed = replace(posted, orders=kept + tuple(wanted.values()))
        if changed.orders == posted.orders:
            return posted
        uow.bills.save(changed)
        audit(
            ctx,
            uow,
            actor=actor,
            action="bill.order",
            subject=posted.id,
            details={"hospital": hospital_id, "lines": sorted(wanted)},
        )
        uow.commit()
    return changed
