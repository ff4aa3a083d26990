"""The FHIR rest-hook notifier: renders an event as a history Bundle and posts it with httpx.

Redirects are not followed (a 3xx is a failed delivery: the allowed-hosts check must not be
walked around), the answer's body is never read past its status, and every request has the
configured timeout.
"""

from __future__ import annotations

from datetime import timedelta, timezone

import httpx

from facepay.adapters.fhir.common import dumps
from facepay.adapters.fhir.subscriptions import event_resources, notification
from facepay.hospital.his_subscriptions import HisSubscription
from facepay.services import his_records
from facepay.services.context import Services
from facepay.services.his_events import HisEvent
from facepay.services.his_notifications import DeliveryFailed
from facepay.shared.errors import NotFound


class FhirRestHook:
    """`HisNotifier` over HTTP."""

    def __init__(self, *, timeout_seconds: float, transport: httpx.BaseTransport | None = None):
        self._client = httpx.Client(
            timeout=timeout_seconds, follow_redirects=False, transport=transport, trust_env=False
        )

    def render(self, ctx: Services, subscription: HisSubscription, event: HisEvent) -> bytes:
        """The history Bundle of `event` for `subscription` (b"" without payload)."""
        if not subscription.payload:
            return b""
        try:
            bill = his_records.bill(ctx=ctx, hospital_id=event.hospital_id, bill_id=event.bill_id)
        except NotFound:
            bill = None
        zone = timezone(timedelta(minutes=ctx.settings.hospital_utc_offset_minutes))
        day = event.at.astimezone(zone).date()
        resources = event_resources(subscription, event, bill, day=day)
        return dumps(notification(event, resources=resources))

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST; the status, or DeliveryFailed when no answer came."""
        try:
            with self._client.stream("POST", url, content=body, headers=headers) as answer:
                return answer.status_code
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"{type(error).__name__}: {str(error)[:200]}") from None

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
