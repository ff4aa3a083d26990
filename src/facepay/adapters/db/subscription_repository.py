"""FHIR rest-hook subscriptions on SQLAlchemy Core.

The lease is a compare-and-set UPDATE (`WHERE lease_until IS NULL OR lease_until <= now`):
whichever server process's UPDATE changes the row holds it, on SQLite and PostgreSQL alike, so
two processes never deliver one subscription at once. Progress is written only by the lease's
holder, so a process that lost its lease (it stalled past `lease_until`) writes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, RowMapping, and_, insert, or_, select, update

from facepay.adapters.db.ledger_repository import utc
from facepay.adapters.db.tables import fhir_subscriptions as t
from facepay.hospital.his_subscriptions import HisSubscription

LIVE = ("requested", "active")


def _row(row: RowMapping) -> HisSubscription:
    return HisSubscription(
        id=row["id"],
        hospital_id=row["hospital_id"],
        criteria=row["criteria"],
        endpoint=row["endpoint"],
        status=row["status"],
        cursor=int(row["cursor"]),
        created_by=row["created_by"],
        created_at=utc(row["created_at"]),
        reason=row["reason"],
        payload=bool(row["payload"]),
        failures=int(row["failures"]),
        next_attempt_at=utc(row["next_attempt_at"]) if row["next_attempt_at"] else None,
        last_error=row["last_error"],
        lease_owner=row["lease_owner"],
        lease_until=utc(row["lease_until"]) if row["lease_until"] else None,
    )


class SqlAlchemySubscriptionRepository:
    """Rows of `fhir_subscriptions`."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, subscription: HisSubscription) -> None:
        """Insert."""
        self._c.execute(insert(t).values(**subscription.__dict__))

    def get(self, subscription_id: str, hospital_id: str) -> HisSubscription | None:
        """Within the site only."""
        query = select(t).where(t.c.id == subscription_id, t.c.hospital_id == hospital_id)
        found = self._c.execute(query).mappings().first()
        return _row(found) if found else None

    def of_site(self, hospital_id: str, *, limit: int) -> list[HisSubscription]:
        """Oldest first."""
        query = (
            select(t)
            .where(t.c.hospital_id == hospital_id)
            .order_by(t.c.created_at, t.c.id)
            .limit(limit)
        )
        return [_row(row) for row in self._c.execute(query).mappings()]

    def save(self, subscription: HisSubscription) -> None:
        """Status and reason only (cursor and lease are the deliverer's)."""
        self._c.execute(
            update(t)
            .where(t.c.id == subscription.id)
            .values(status=subscription.status, reason=subscription.reason)
        )

    def due(self, *, now: datetime, limit: int) -> list[HisSubscription]:
        """Live, due, and not leased (or the lease expired)."""
        query = (
            select(t)
            .where(
                t.c.status.in_(LIVE),
                or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now),
                or_(t.c.lease_until.is_(None), t.c.lease_until <= now),
            )
            .order_by(t.c.next_attempt_at, t.c.id)
            .limit(limit)
        )
        return [_row(row) for row in self._c.execute(query).mappings()]

    def lease(self, subscription_id: str, *, owner: str, now: datetime, until: datetime) -> bool:
        """Compare and set."""
        taken = self._c.execute(
            update(t)
            .where(
                t.c.id == subscription_id,
                or_(t.c.lease_until.is_(None), t.c.lease_until <= now),
            )
            .values(lease_owner=owner, lease_until=until)
        )
        return taken.rowcount == 1

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
        """Only while `owner` holds the lease; a subscription turned off stays off."""
        values: dict[str, object] = {
            "cursor": cursor,
            "failures": failures,
            "next_attempt_at": next_attempt_at,
            "last_error": last_error,
        }
        if release:
            values |= {"lease_owner": None, "lease_until": None}
        done = self._c.execute(
            update(t).where(t.c.id == subscription_id, t.c.lease_owner == owner).values(**values)
        )
        if done.rowcount == 1:
            self._c.execute(
                update(t)
                .where(and_(t.c.id == subscription_id, t.c.status != "off"))
                .values(status=status)
            )
        return done.rowcount == 1
