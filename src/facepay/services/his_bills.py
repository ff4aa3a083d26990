"""A hospital system pushes a bill under its own identifier, idempotently.

The HIS's identifier is the bill's `external_ref`, unique per site (the `bills` table says so
too). Pushing the same identifier again with the same content - patient, lines, visit, point of
sale, order data - returns the stored bill (`created` False) and changes nothing; different
content is a Conflict (`his_bill_differs`), whatever state the bill is in. Two pushes racing
make one bill: the loser finds the winner's and compares.
"""

from __future__ import annotations

from dataclasses import dataclass

from facepay.hospital.bills import LineOrder, PointOfSale, PostedBill
from facepay.identity.id_card import normalise_id_number
from facepay.insurance.model import Bill
from facepay.services import bills as bill_service
from facepay.services.context import Services
from facepay.services.his_records import patient
from facepay.shared.errors import Conflict, InvalidInput


@dataclass(frozen=True)
class Pushed:
    """The bill, and whether this push made it."""

    bill: PostedBill
    created: bool


def push_bill(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    external_ref: str,
    bill: Bill,
    person_id: str | None = None,
    id_number: str | None = None,
    point_of_sale: PointOfSale = "hospital",
    line_orders: tuple[LineOrder, ...] = (),
) -> Pushed:
    """Post the bill for the patient (a patient id of this site, or an ID number) unless the
    site holds one under `external_ref` already: the same content returns it, other content
    is a Conflict."""
    if (person_id is None) == (id_number is None):
        raise InvalidInput("name the patient by id or by ID number", code="fhir_bad_invoice")
    if person_id is not None:
        id_number = patient(ctx=ctx, hospital_id=hospital_id, person_id=person_id).id_number
    assert id_number is not None
    wanted = (bill, point_of_sale, tuple(sorted(line_orders, key=lambda o: o.code)))
    existing = _existing(ctx, hospital_id, external_ref)
    if existing is None:
        try:
            posted = bill_service.post_bill(
                ctx=ctx,
                hospital_id=hospital_id,
                actor=actor,
                id_number=id_number,
                external_ref=external_ref,
                bill=bill,
                point_of_sale=point_of_sale,
                line_orders=line_orders,
            )
        except Conflict as clash:
            if clash.code != "duplicate_bill":
                raise
            existing = _existing(ctx, hospital_id, external_ref)  # a racing push won
            if existing is None:
                raise
        else:
            return Pushed(posted, created=True)
    if _same(existing, wanted, id_number, ctx):
        return Pushed(existing, created=False)
    raise Conflict(
        f"an Invoice with identifier {external_ref} was pushed already with other content",
        code="his_bill_differs",
    )


def _existing(ctx: Services, hospital_id: str, external_ref: str) -> PostedBill | None:
    with ctx.uow() as uow:
        return uow.bills.by_external_ref(hospital_id, external_ref)


def _same(
    posted: PostedBill,
    wanted: tuple[Bill, PointOfSale, tuple[LineOrder, ...]],
    id_number: str,
    ctx: Services,
) -> bool:
    """Whether the stored bill is what the push asks for (a bill refunded by line has fewer
    lines than were pushed: a repeat of the original push then differs, docs/fhir.md)."""
    with ctx.uow() as uow:
        person = uow.people.get(posted.person_id)
    if person is None or person.id_number != _normalised(id_number):
        return False
    orders = tuple(sorted(posted.orders, key=lambda o: o.code))
    return (posted.bill, posted.point_of_sale, orders) == wanted


def _normalised(id_number: str) -> str:
    try:
        return normalise_id_number(id_number)
    except InvalidInput:
        return id_number
