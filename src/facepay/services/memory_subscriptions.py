"""In-memory FHIR rest-hook subscriptions (the fake behind the service tests)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from facepay.hospital.his_subscriptions import HisSubscription, SubscriptionStatus


class InMemorySubscriptionRepository:
    """Subscriptions in a dict."""

    def __init__(self) -> None:
        self.rows: dict[str, HisSubscription] = {}

    def add(self, subscription: HisSubscription) -> None:
        """Store."""
        self.rows[subscription.id] = subscription

    def get(self, subscription_id: str, hospital_id: str) -> HisSubscription | None:
        """Within the site only."""
        found = self.rows.get(subscription_id)
        return found if found is not None and found.hospital_id == hospital_id else None

    def of_site(self, hospital_id: str, *, limit: int) -> list[HisSubscription]:
        """Oldest first."""
        rows = [s for s in self.rows.values() if s.hospital_id == hospital_id]
        return sorted(rows, key=lambda s: (s.created_at, s.id))[:limit]

    def save(self, subscription: HisSubscription) -> None:
        """Status and reason only."""
        old = self.rows[subscription.id]
        self.rows[subscription.id] = replace(
            old, status=subscription.status, reason=subscription.reason
        )

    def due(self, *, now: datetime, limit: int) -> list[HisSubscription]:
        """Due and not leased."""
        rows = [
            s
            for s in self.rows.values()
            if s.due(now) and (s.lease_until is None or s.lease_until <= now)
        ]
        return sorted(rows, key=lambda s: (s.next_attempt_at or s.created_at, s.id))[:limit]

    def lease(self, subscription_id: str, *, owner: str, now: datetime, until: datetime) -> bool:
        """Compare and set."""
        found = self.rows.get(subscription_id)
        if found is None or (found.lease_until is not None and found.lease_until > now):
            return False
        self.rows[subscription_id] = replace(found, lease_owner=owner, lease_until=until)
        return True

    def record(
        self,
        subscription_id: str,
        *,
        owner: str,
        cursor: int,
        status: str,
        failures: int,
        next_attempt_at: datetime | None,
        last_error: str | None,
        release: bool,
    ) -> bool:
        """Only while `owner` holds the lease."""
        found = self.rows.get(subscription_id)
        if found is None or found.lease_owner != owner:
            return False
        live: SubscriptionStatus = "off" if found.status == "off" else _status(status)
        self.rows[subscription_id] = replace(
            found,
            cursor=cursor,
            status=live,
            failures=failures,
            next_attempt_at=next_attempt_at,
            last_error=last_error,
            lease_owner=None if release else owner,
            lease_until=None if release else found.lease_until,
        )
        return True


def _status(value: str) -> SubscriptionStatus:
    for known in ("requested", "active", "error", "off"):
        if value == known:
            return known
    raise ValueError(f"unknown subscription status {value!r}")
