"""MedicationRequest and MedicationDispense: the drug lines of a dispensing order.

A paid bill's drug lines for one pharmacy window are a dispensing order; each line is one
MedicationRequest (the prescription the HIS sent as a bill line) with id `<order id>.<n>`, n
the line's place on the order (1-based, fixed when the order is made). The line's collection
is the MedicationDispense with the same id, whose `authorizingPrescription` is that
MedicationRequest. The notifications of a pick-up or return build their MedicationDispense
with the same function (`dispense_resource`), under their event's id.

Status of a line:    waiting    partial      handed     returned
  MedicationRequest  active     active       completed  cancelled
  MedicationDispense preparation in-progress completed  declined
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from facepay.adapters.fhir.common import EXT_WINDOW, SID_SITE, emit, fhir_id
from facepay.hospital.bills import PostedBill
from facepay.hospital.orders import DispensingLine, DispensingOrder, LineState

REQUEST_STATUS: dict[LineState, str] = {
    "waiting": "active",
    "partial": "active",
    "handed": "completed",
    "returned": "cancelled",
}
DISPENSE_STATUS: dict[LineState, str] = {
    "waiting": "preparation",
    "partial": "in-progress",
    "handed": "completed",
    "returned": "declined",
}
ORDER_STATUSES: dict[str, frozenset[str]] = {
    # Which order states can hold a line of each FHIR status (the store pre-filters on them).
    "active": frozenset({"queued", "partial"}),
    "completed": frozenset({"partial", "done"}),
    "cancelled": frozenset({"partial", "done"}),
    "preparation": frozenset({"queued", "partial"}),
    "in-progress": frozenset({"partial"}),
    "declined": frozenset({"partial", "done"}),
}
RETURNED_NOTE = "returned at the pharmacy window"


def line_id(order: DispensingOrder, number: int) -> str:
    """The FHIR id of line `number` (1-based) of an order."""
    return f"{fhir_id(order.id)}.{number}"


def order_statuses(statuses: frozenset[str]) -> frozenset[str]:
    """The order states that can hold lines of these FHIR statuses."""
    return frozenset().union(*(ORDER_STATUSES.get(s, frozenset()) for s in statuses))


def _medication(code: str, name: str) -> dict[str, Any]:
    return {"coding": [{"code": code, "display": name}], "text": name}


def medication_request_resource(
    order: DispensingOrder, number: int, bill: PostedBill | None
) -> dict[str, Any]:
    """Line `number` of an order as the MedicationRequest the HIS's bill line was."""
    line = order.lines[number - 1]
    doctor = bill.order_of(line.code).ordered_by if bill is not None else None
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": line_id(order, number),
        "extension": [{"url": EXT_WINDOW, "valueString": order.window}],
        "status": REQUEST_STATUS[line.state],
        "intent": "order",
        "medicationCodeableConcept": _medication(line.code, line.name),
        "subject": {"reference": f"Patient/{fhir_id(order.person_id)}"},
        "authoredOn": (bill.created_at if bill else order.created_at).isoformat(timespec="seconds"),
        "requester": {"reference": f"Practitioner/{fhir_id(doctor)}"} if doctor else None,
        "supportingInformation": [{"reference": f"Invoice/{fhir_id(order.bill_id)}"}],
        "dispenseRequest": {
            "quantity": {"value": line.quantity},
            "performer": {"identifier": {"system": SID_SITE, "value": order.hospital_id}},
        },
    }
    if line.returned:
        resource["statusReason"] = {"text": RETURNED_NOTE}
    return emit(resource)


def dispense_resource(
    *,
    id: str,
    status: str,
    line: tuple[str, str],
    person_id: str,
    bill_id: str,
    quantity: Decimal | None,
    handed_at: datetime | None,
    returned: bool,
    prescription: str | None = None,
) -> dict[str, Any]:
    """A MedicationDispense of one line (code, name): what every emitted one is built by."""
    code, name = line
    resource: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "id": id,
        "status": status,
        "medicationCodeableConcept": _medication(code, name),
        "subject": {"reference": f"Patient/{fhir_id(person_id)}"},
        "supportingInformation": [{"reference": f"Invoice/{fhir_id(bill_id)}"}],
        "authorizingPrescription": [{"reference": f"MedicationRequest/{prescription}"}]
        if prescription
        else None,
        "whenHandedOver": handed_at.isoformat(timespec="seconds") if handed_at else None,
    }
    if quantity is not None:
        resource["quantity"] = {"value": quantity}
    if returned:
        resource["note"] = [{"text": RETURNED_NOTE}]
    return emit(resource)


def medication_dispense_resource(order: DispensingOrder, number: int) -> dict[str, Any]:
    """The collection of line `number` of an order as it stands: what was handed over."""
    line: DispensingLine = order.lines[number - 1]
    return dispense_resource(
        id=line_id(order, number),
        status=DISPENSE_STATUS[line.state],
        line=(line.code, line.name),
        person_id=order.person_id,
        bill_id=order.bill_id,
        quantity=line.handed if line.handed else None,
        handed_at=order.updated_at if line.handed else None,
        returned=line.returned,
        prescription=line_id(order, number),
    )
