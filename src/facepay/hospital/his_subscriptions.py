"""A hospital system's subscription to its site's events (FHIR Subscription, rest-hook).

A subscription names what it wants to hear (`criteria`, a FHIR search such as
`Invoice?status=balanced`), where (`endpoint`, an http(s) URL whose host the installation
allows) and carries its own durable cursor: the site's audit-chain position up to which it has
been told. Delivery moves the cursor only after the receiver answered 2xx; failures back off
exponentially, and after `max_failures` in a row the subscription is `error` until it is made
again. A lease (`lease_owner`, `lease_until`) lets one server process at a time deliver it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from facepay.shared.errors import InvalidInput

SubscriptionStatus = Literal["requested", "active", "error", "off"]
EventKind = Literal["bill.paid", "bill.refunded", "bill.dispensed", "bill.returned"]
CRITERIA: dict[str, frozenset[EventKind]] = {
    "PaymentNotice?": frozenset({"bill.paid", "bill.refunded"}),
    "Invoice?": frozenset({"bill.paid", "bill.refunded"}),
    "Invoice?status=balanced": frozenset({"bill.paid"}),
    "Invoice?status=cancelled": frozenset({"bill.refunded"}),
    "MedicationDispense?": frozenset({"bill.dispensed", "bill.returned"}),
}
"""The criteria a subscription may name, and the site events each one hears of."""
MAX_ENDPOINT = 500
MAX_REASON = 200


def criteria_kinds(criteria: str) -> frozenset[EventKind]:
    """The events `criteria` hears of (InvalidInput for criteria the facade does not offer)."""
    kinds = CRITERIA.get(criteria)
    if kinds is None:
        raise InvalidInput(
            f"criteria: one of {', '.join(CRITERIA)}", code="fhir_unsupported_criteria"
        )
    return kinds


def check_endpoint(endpoint: str, allowed_hosts: tuple[str, ...]) -> str:
    """An http(s) URL without credentials or fragment whose host is one of `allowed_hosts`
    (exact names or IP literals; the installation's list, loopback by default): the server
    posts there, so anything else would let a caller aim it at the hospital's network."""
    printable = endpoint.isascii() and endpoint.isprintable() and " " not in endpoint
    if len(endpoint) > MAX_ENDPOINT or not printable or "#" in endpoint:
        raise InvalidInput(
            f"endpoint: a URL of at most {MAX_ENDPOINT} ASCII characters (percent-encode the "
            "rest), without a fragment",
            code=_BAD,
        )
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        raise InvalidInput("endpoint: not a URL", code=_BAD) from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host or parts.fragment:
        raise InvalidInput("endpoint: an http or https URL without a fragment", code=_BAD)
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("endpoint: no user or password in the URL", code=_BAD)
    if port == 0:
        raise InvalidInput("endpoint: a port from 1 to 65535", code=_BAD)
    if _normal(host) not in {_normal(h) for h in allowed_hosts}:
        raise InvalidInput(
            "endpoint: this installation does not post to that host "
            "(FACEPAY_FHIR_SUBSCRIPTION_ALLOWED_HOSTS)",
            code="fhir_endpoint_not_allowed",
        )
    return endpoint


_BAD = "fhir_bad_endpoint"


def _normal(host: str) -> str:
    host = host.strip("[]").lower()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.rstrip(".")


@dataclass(frozen=True)
class HisSubscription:
    """One rest-hook subscription of a site."""

    id: str
    hospital_id: str
    criteria: str
    endpoint: str
    status: SubscriptionStatus
    cursor: int
    """The site's audit-chain position delivered up to (events after it are still due)."""
    created_by: str
    created_at: datetime
    reason: str = ""
    payload: bool = True
    """Send the matching resources (application/fhir+json) or an empty notification."""
    failures: int = 0
    """Failed deliveries in a row."""
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None

    @property
    def kinds(self) -> frozenset[EventKind]:
        """The site events this subscription hears of."""
        return criteria_kinds(self.criteria)

    def due(self, now: datetime) -> bool:
        """Whether a delivery round should look at it now."""
        live = self.status in ("requested", "active")
        return live and (self.next_attempt_at is None or self.next_attempt_at <= now)


def backoff(failures: int, *, base_seconds: float, max_seconds: float) -> timedelta:
    """How long to wait after `failures` failed deliveries in a row: base x 2^(n-1), capped."""
    exponent = min(max(failures - 1, 0), 30)
    return timedelta(seconds=min(base_seconds * 2**exponent, max_seconds))
