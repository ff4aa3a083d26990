"""FHIR Subscription (rest-hook): a hospital system is notified of its site's bills.

Made by the site's HIS terminal or its admin; the server posts each matching event to the
endpoint (an allowed host only), signed with the server's key (facepay.services.his_notifications).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from facepay.access.rbac import Permission, Principal
from facepay.adapters.fhir.common import facepay_id, parse_json
from facepay.adapters.fhir.subscriptions import read_subscription, subscription_resource
from facepay.api.access import may
from facepay.api.deps import ApiState, StateDep
from facepay.api.routes.fhir_common import (
    Body,
    Json,
    base_url,
    fhir_response,
    one_page,
    search_of,
)
from facepay.hospital.his_subscriptions import HisSubscription
from facepay.services import his_notifications
from facepay.shared.errors import BadRequest, NotFound

router = APIRouter()
Manage = Annotated[Principal, may(Permission.SUBSCRIPTION_MANAGE)]


def _id(fhir: str) -> str:
    found = facepay_id(fhir, kind="sub")
    if found is None:
        raise NotFound("no such subscription")
    return found


def _render(state: ApiState, subscription: HisSubscription) -> dict[str, object]:
    key = his_notifications.server_public_key(state.services)
    return subscription_resource(subscription, public_key=key)


@router.post("/Subscription")
def create_subscription(
    request: Request, body: Body, state: StateDep, who: Manage, _: None = Json
) -> Response:
    """A rest-hook subscription of the caller's site (201); it hears what happens next."""
    criteria, endpoint, reason, payload = read_subscription(parse_json(body))
    made = his_notifications.create_subscription(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        criteria=criteria,
        endpoint=endpoint,
        reason=reason,
        payload=payload,
    )
    resource = _render(state, made)
    location = f"{base_url(request)}/Subscription/{resource['id']}"
    return fhir_response(resource, 201, Location=location)


@router.get("/Subscription/{fhir_id}")
def read_subscription_route(fhir_id: str, state: StateDep, who: Manage, _: None = Json) -> Response:
    """One of the site's subscriptions, with its status and last error."""
    found = his_notifications.get_subscription(
        ctx=state.services, hospital_id=who.hospital, subscription_id=_id(fhir_id)
    )
    return fhir_response(_render(state, found))


@router.delete("/Subscription/{fhir_id}")
def delete_subscription(fhir_id: str, state: StateDep, who: Manage, _: None = Json) -> Response:
    """Stop a subscription (it reads `off` afterwards)."""
    off = his_notifications.turn_off(
        ctx=state.services, hospital_id=who.hospital, actor=who.actor, subscription_id=_id(fhir_id)
    )
    return fhir_response(_render(state, off))


@router.get("/Subscription")
def search_subscriptions(
    request: Request, state: StateDep, who: Manage, _: None = Json
) -> Response:
    """The site's subscriptions (`status=` to filter)."""
    search = search_of(request, state, "Subscription")
    if search.cursor is not None:
        raise BadRequest("the site's subscriptions fit on one page", code="fhir_bad_page")
    found = his_notifications.site_subscriptions(ctx=state.services, hospital_id=who.hospital)
    wanted = [s for s in found if search.statuses is None or s.status in search.statuses]
    return fhir_response(one_page(request, [_render(state, s) for s in wanted]))
