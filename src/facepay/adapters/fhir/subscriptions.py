"""Subscription (R4, rest-hook) in and out, and the notification a subscriber receives.

A notification is a `history` Bundle whose `identifier` is the event id (`<site>:<seq>`, the
same on every retry of that event) with the matching resources: the PaymentNotice of a payment
or refund, the Invoice as it stands, or one MedicationDispense per line handed out or returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from facepay.adapters.fhir.billing import invoice_resource
from facepay.adapters.fhir.claims import payment_notice
from facepay.adapters.fhir.common import BASE, MEDIA_TYPE, emit, fhir_id, parse_resource
from facepay.adapters.fhir.medication import dispense_resource
from facepay.hospital.bills import PostedBill
from facepay.hospital.his_subscriptions import HisSubscription
from facepay.services.his_events import HisEvent
from facepay.shared.errors import InvalidInput

EXT_SIGNING_KEY = f"{BASE}/StructureDefinition/notification-signing-key"
SID_EVENT = f"{BASE}/sid/event"


def read_subscription(document: Mapping[str, Any]) -> tuple[str, str, str, bool]:
    """(criteria, endpoint, reason, payload?) of a Subscription a client creates."""
    parse_resource(document, "Subscription")
    channel = document.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise InvalidInput("channel.type: rest-hook only", code="fhir_bad_subscription")
    if channel.get("header") or document.get("end"):
        raise InvalidInput(
            "channel.header and end are not supported (the server signs each notification)",
            code="fhir_bad_subscription",
        )
    payload = channel.get("payload")
    if payload not in (None, MEDIA_TYPE, "application/json"):
        raise InvalidInput(
            f"channel.payload: {MEDIA_TYPE}, or none for empty notifications",
            code="fhir_bad_subscription",
        )
    if document.get("status") not in ("requested", "active"):
        raise InvalidInput("status: requested (or active)", code="fhir_bad_subscription")
    return (
        str(document.get("criteria") or ""),
        str(channel.get("endpoint") or ""),
        str(document.get("reason") or ""),
        payload is not None,
    )


def subscription_resource(subscription: HisSubscription, *, public_key: str) -> dict[str, Any]:
    """A stored subscription, with the key its notifications are signed with."""
    channel: dict[str, Any] = {"type": "rest-hook", "endpoint": subscription.endpoint}
    if subscription.payload:
        channel["payload"] = MEDIA_TYPE
    resource: dict[str, Any] = {
        "resourceType": "Subscription",
        "id": fhir_id(subscription.id),
        "extension": [{"url": EXT_SIGNING_KEY, "valueString": public_key}],
        "status": subscription.status,
        "reason": subscription.reason,
        "criteria": subscription.criteria,
        "channel": channel,
    }
    if subscription.last_error:
        resource["error"] = subscription.last_error
    return emit(resource)


def notification(
    event: HisEvent,
    *,
    resources: list[dict[str, Any]],
) -> dict[str, Any]:
    """The history Bundle of one event with its resources."""
    return emit(
        {
            "resourceType": "Bundle",
            "identifier": {"system": SID_EVENT, "value": event.id},
            "type": "history",
            "timestamp": event.at.isoformat(timespec="seconds"),
            "entry": [
                {
                    "resource": r,
                    "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
                    "response": {"status": "200"},
                }
                for r in resources
            ]
            or None,
        }
    )


def event_resources(
    subscription: HisSubscription, event: HisEvent, bill: PostedBill | None, *, day: date
) -> list[dict[str, Any]]:
    """The resources a subscription's criteria ask for about one event."""
    kind = subscription.criteria.split("?", 1)[0]
    if kind == "PaymentNotice":
        return [payment_notice(event, day=day)]
    if bill is None:
        return []
    if kind == "Invoice":
        return [invoice_resource(bill, site_id=event.hospital_id)]
    return medication_dispenses(event, bill)


def medication_dispenses(event: HisEvent, bill: PostedBill) -> list[dict[str, Any]]:
    """One MedicationDispense per line a pick-up handed out or a return took back."""
    names = {line.code: line.name for line in bill.bill.lines}
    handed = event.details.get("handed")
    returned = event.details.get("lines")
    if event.kind == "bill.dispensed" and isinstance(handed, dict):
        lines = [(str(code), _quantity(amount)) for code, amount in sorted(handed.items())]
    elif event.kind == "bill.returned" and isinstance(returned, list):
        lines = [(str(code), None) for code in returned]
    else:
        lines = []
    return [
        dispense_resource(
            id=f"{fhir_id(event.hospital_id)}.{event.seq}.{n}",
            status="completed" if event.kind == "bill.dispensed" else "stopped",
            line=(code, names.get(code, code)),
            person_id=bill.person_id,
            bill_id=bill.id,
            quantity=quantity,
            handed_at=event.at,
            returned=event.kind == "bill.returned",
        )
        for n, (code, quantity) in enumerate(lines, start=1)
    ]


def _quantity(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None
