"""Notify hospital systems of their site's events: FHIR rest-hook subscriptions.

The site's audit chain is the outbox (facepay.services.his_events). Each subscription keeps a
durable cursor, a chain position; a delivery round, run by every server process from its upkeep
schedule, leases the subscriptions that are due (one process each at a time), posts each event
that matches a subscription's criteria to its endpoint, signed with the server's key, and moves
the cursor only after the receiver answered 2xx. At-least-once: a crash between the answer and
the cursor's move sends that event again, with the same event id, which the receiver drops.
A failure backs off exponentially (FACEPAY_FHIR_SUBSCRIPTION_BACKOFF_*); after
FACEPAY_FHIR_SUBSCRIPTION_MAX_FAILURES in a row the subscription turns `error` and stops.

The HTTP posting and the FHIR rendering are a port (`HisNotifier`, implemented in
facepay.adapters.fhir.notify); no unit of work is held while a request is in flight.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from facepay.hospital.his_subscriptions import (
    MAX_REASON,
    HisSubscription,
    backoff,
    check_endpoint,
    criteria_kinds,
)
from facepay.services.his_events import HisEvent, events_after, head
from facepay.services.offline_package import signing_key
from facepay.services.support import audit, require_hospital
from facepay.shared.errors import Conflict, FacepayError, InvalidInput, NotFound
from facepay.shared.ids import new_id
from facepay.terminal.signing import public_key_raw_b64, sign_request

if TYPE_CHECKING:
    from facepay.services.context import Services

SERVER_SIGNER = "facepay-server"
"""The X-Facepay-Terminal value of a notification: the server signs it, not a terminal."""
HEADER_EVENT = "X-Facepay-Event-Id"
HEADER_SUBSCRIPTION = "X-Facepay-Subscription"
MAX_ERROR = 300


class DeliveryFailed(Exception):  # noqa: N818 - read as "the delivery failed"
    """The endpoint could not be reached or did not answer in time (the message says how)."""


class HisNotifier(Protocol):
    """How a notification is rendered and sent (the FHIR rest-hook adapter, or a test fake)."""

    def render(self, ctx: Services, subscription: HisSubscription, event: HisEvent) -> bytes:
        """The notification body for one event (b"" for a subscription without payload)."""

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST and return the HTTP status; DeliveryFailed when there is no answer."""


def create_subscription(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    criteria: str,
    endpoint: str,
    reason: str,
    payload: bool = True,
) -> HisSubscription:
    """A site's new subscription; it hears of what happens after it is made."""
    criteria_kinds(criteria)
    settings = ctx.settings
    check_endpoint(endpoint, settings.subscription_hosts())
    if not reason or len(reason) > MAX_REASON or not reason.isprintable():
        raise InvalidInput(f"reason: 1 to {MAX_REASON} printable characters")
    cursor = head(ctx, hospital_id=hospital_id)
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        live = [s for s in uow.subscriptions.of_site(hospital_id, limit=1000) if s.status != "off"]
        if len(live) >= settings.fhir_subscriptions_per_site:
            raise Conflict(
                f"a site has at most {settings.fhir_subscriptions_per_site} subscriptions; "
                "delete one first",
                code="fhir_too_many_subscriptions",
            )
        subscription = HisSubscription(
            id=new_id("sub"),
            hospital_id=hospital_id,
            criteria=criteria,
            endpoint=endpoint,
            status="active",
            cursor=cursor,
            created_by=actor,
            created_at=ctx.clock.now(),
            reason=reason,
            payload=payload,
        )
        uow.subscriptions.add(subscription)
        audit(
            ctx,
            uow,
            actor=actor,
            action="his_subscription.create",
            subject=subscription.id,
            details={"hospital": hospital_id, "criteria": criteria, "endpoint": endpoint},
        )
        uow.commit()
    return subscription


def get_subscription(*, ctx: Services, hospital_id: str, subscription_id: str) -> HisSubscription:
    """One of the site's subscriptions."""
    with ctx.uow() as uow:
        found = uow.subscriptions.get(subscription_id, hospital_id)
    if found is None:
        raise NotFound("no such subscription")
    return found


def site_subscriptions(*, ctx: Services, hospital_id: str) -> list[HisSubscription]:
    """The site's subscriptions, oldest first."""
    with ctx.uow() as uow:
        return uow.subscriptions.of_site(hospital_id, limit=1000)


def turn_off(
    *, ctx: Services, hospital_id: str, actor: str, subscription_id: str
) -> HisSubscription:
    """Stop a subscription (it stays readable, status `off`)."""
    with ctx.uow() as uow:
        found = uow.subscriptions.get(subscription_id, hospital_id)
        if found is None:
            raise NotFound("no such subscription")
        off = replace(found, status="off")
        uow.subscriptions.save(off)
        audit(
            ctx,
            uow,
            actor=actor,
            action="his_subscription.off",
            subject=found.id,
            details={"hospital": hospital_id},
        )
        uow.commit()
    return off


def server_public_key(ctx: Services) -> str:
    """The public key notifications are signed with (base64 of the raw 32 bytes)."""
    return public_key_raw_b64(signing_key(ctx))


@dataclass(frozen=True)
class Delivered:
    """What one delivery round did."""

    sent: int = 0
    failed: int = 0
    subscriptions: int = 0


def worker_name() -> str:
    """This process's name as a lease owner: host and process id."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


def deliver_round(
    *, ctx: Services, notifier: HisNotifier | None, owner: str | None = None
) -> Delivered:
    """Lease the due subscriptions and deliver what each is owed (one round)."""
    if notifier is None:
        return Delivered()
    settings = ctx.settings
    me = owner or worker_name()
    now = ctx.clock.now()
    with ctx.uow() as uow:
        due = uow.subscriptions.due(now=now, limit=settings.fhir_subscription_round_size)
    total = Delivered()
    lease = timedelta(seconds=settings.fhir_subscription_lease_seconds)
    for subscription in due:
        with ctx.uow() as uow:
            taken = uow.subscriptions.lease(subscription.id, owner=me, now=now, until=now + lease)
            uow.commit()
        if taken:
            try:
                done = _deliver(ctx, notifier, subscription, me)
            except Exception:
                _release(ctx, subscription.id, subscription.hospital_id, me)
                raise
            total = Delivered(
                total.sent + done.sent, total.failed + done.failed, total.subscriptions + 1
            )
    return total


def _release(ctx: Services, subscription_id: str, hospital_id: str, owner: str) -> None:
    """Give the lease back, keeping what was recorded (a round that broke off on a storage
    error: the next round, in any process, carries on without waiting for the lease to end)."""
    # The storage may still be failing: then the lease simply expires.
    with contextlib.suppress(Exception), ctx.uow() as uow:
        now = uow.subscriptions.get(subscription_id, hospital_id)
        if now is not None:
            uow.subscriptions.record(
                subscription_id,
                owner=owner,
                cursor=now.cursor,
                status=now.status,
                failures=now.failures,
                next_attempt_at=now.next_attempt_at,
                last_error=now.last_error,
                release=True,
            )
            uow.commit()


def _deliver(
    ctx: Services, notifier: HisNotifier, subscription: HisSubscription, owner: str
) -> Delivered:
    settings = ctx.settings
    events, reached = events_after(
        ctx,
        hospital_id=subscription.hospital_id,
        after_seq=subscription.cursor,
        limit=settings.fhir_subscription_batch,
    )
    kinds = subscription.kinds
    cursor, failures, status = subscription.cursor, subscription.failures, subscription.status
    sent = 0
    for event in events:
        if event.kind in kinds:
            problem = _send(ctx, notifier, subscription, event)
            if problem is not None:
                failures += 1
                wait = backoff(
                    failures,
                    base_seconds=settings.fhir_subscription_backoff_seconds,
                    max_seconds=settings.fhir_subscription_backoff_max_seconds,
                )
                failed = failures >= settings.fhir_subscription_max_failures
                _record(
                    ctx,
                    subscription,
                    owner,
                    cursor=cursor,
                    status="error" if failed else status,
                    failures=failures,
                    next_attempt_at=ctx.clock.now() + wait,
                    last_error=problem[:MAX_ERROR],
                    release=True,
                )
                return Delivered(sent=sent, failed=1)
            sent += 1
            failures, status = 0, "active"
        cursor = event.seq
        if event.kind in kinds and not _record(
            ctx, subscription, owner, cursor=cursor, status=status, failures=0, release=False
        ):
            return Delivered(sent=sent)  # the lease was lost: another process carries on
    _record(
        ctx,
        subscription,
        owner,
        cursor=max(cursor, reached),
        status=status,
        failures=failures,
        release=True,
    )
    return Delivered(sent=sent)


def _send(
    ctx: Services, notifier: HisNotifier, subscription: HisSubscription, event: HisEvent
) -> str | None:
    """Post one event; None when the receiver acknowledged it (2xx), else what went wrong."""
    try:
        body = notifier.render(ctx, subscription, event)
    except NotFound:
        body = b""  # the bill is gone from view: the event still says what happened
    except (FacepayError, ValueError) as broken:
        # An event that cannot be rendered fails like an unreachable endpoint: it backs off
        # and ends in `error` rather than holding the subscription's lease round after round.
        return f"{event.id}: cannot render the notification ({type(broken).__name__})"
    target = _target(subscription.endpoint)
    headers = sign_request(signing_key(ctx), "POST", target, body, terminal_id=SERVER_SIGNER)
    headers[HEADER_EVENT] = event.id
    headers[HEADER_SUBSCRIPTION] = subscription.id
    if body:
        headers["Content-Type"] = "application/fhir+json"
    try:
        status = notifier.post(subscription.endpoint, body, headers)
    except DeliveryFailed as failure:
        return f"{event.id}: {failure}"
    return None if 200 <= status < 300 else f"{event.id}: the endpoint answered HTTP {status}"


def _target(endpoint: str) -> str:
    """The request target the receiver sees (path and query), which the signature covers."""
    parts = urlsplit(endpoint)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def _record(
    ctx: Services,
    subscription: HisSubscription,
    owner: str,
    *,
    cursor: int,
    status: str,
    failures: int,
    release: bool,
    next_attempt_at: datetime | None = None,
    last_error: str | None = None,
) -> bool:
    with ctx.uow() as uow:
        kept = uow.subscriptions.record(
            subscription.id,
            owner=owner,
            cursor=cursor,
            status=status,
            failures=failures,
            next_attempt_at=next_attempt_at,
            last_error=last_error,
            release=release,
        )
        uow.commit()
    return kept
