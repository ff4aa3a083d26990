"""State every worker process shares, on SQLAlchemy Core: issued liveness challenges and the
token buckets of the request limits (migration 0011; used by facepay.services.shared_state)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from facepay.adapters.db.ledger_repository import utc
from facepay.adapters.db.tables import liveness_challenges, rate_buckets
from facepay.vision.liveness.challenge import Action, ActionWindow, Challenge


class SqlAlchemySharedStateRepository:
    """Challenges and rate buckets."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def relax_durability(self) -> None:
        """Let this transaction's commit return before its WAL record is on disk (PostgreSQL's
        `synchronous_commit = off`; SQLite has no such switch per transaction). A crash may then
        forget the last milliseconds of rate tokens, never break a row lock's decision."""
        if self._c.dialect.name == "postgresql":
            self._c.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")

    def add_challenge(self, challenge: Challenge) -> None:
        """Insert an issued challenge."""
        steps = [[s.action.value, s.start, s.end] for s in challenge.steps]
        self._c.execute(
            insert(liveness_challenges).values(
                nonce=challenge.nonce,
                steps=json.dumps(steps),
                issued_at=challenge.issued_at,
                expires_at=challenge.expires_at,
            )
        )

    def challenge(self, nonce: str) -> tuple[Challenge, bool] | None:
        """The challenge and whether it was redeemed; None if unknown."""
        t = liveness_challenges
        row = self._c.execute(select(t).where(t.c.nonce == nonce)).mappings().first()
        return (_challenge(row), row["redeemed_at"] is not None) if row else None

    def redeem_challenge(self, nonce: str, *, at: datetime) -> Challenge | None:
        """Mark it redeemed if it was not (one conditional UPDATE: of two workers racing, one
        wins); the challenge when this call redeemed it, else None."""
        t = liveness_challenges
        won = self._c.execute(
            update(t)
            .where(t.c.nonce == nonce, t.c.redeemed_at.is_(None))
            .values(redeemed_at=at)
            .returning(t.c.nonce, t.c.steps, t.c.issued_at, t.c.expires_at)
        ).first()
        return _challenge(won._asdict()) if won is not None else None

    def purge_challenges(self, *, now: datetime) -> int:
        """Delete those past their expiry."""
        t = liveness_challenges
        return int(self._c.execute(delete(t).where(t.c.expires_at < now)).rowcount)

    def count_challenges(self) -> int:
        """How many are kept."""
        count = self._c.execute(select(func.count()).select_from(liveness_challenges))
        return int(count.scalar_one())

    def bucket(self, key: str) -> tuple[float, float] | None:
        """(tokens, updated_at) of a bucket, locked until the transaction ends."""
        t = rate_buckets
        row = self._c.execute(
            select(t.c.tokens, t.c.updated_at).where(t.c.key == key).with_for_update()
        ).first()
        return (float(row.tokens), float(row.updated_at)) if row else None

    def put_bucket(self, key: str, *, tokens: float, updated_at: float, new: bool) -> None:
        """Insert (`new`) or update a bucket."""
        t = rate_buckets
        if new:
            self._c.execute(insert(t).values(key=key, tokens=tokens, updated_at=updated_at))
        else:
            query = update(t).where(t.c.key == key)
            self._c.execute(query.values(tokens=tokens, updated_at=updated_at))

    def purge_buckets(self, *, before: float) -> int:
        """Delete buckets untouched since `before` (full again: they carry nothing)."""
        t = rate_buckets
        return int(self._c.execute(delete(t).where(t.c.updated_at < before)).rowcount)


def _challenge(data: Any) -> Challenge:
    steps = tuple(
        ActionWindow(Action(a), float(start), float(end))
        for a, start, end in json.loads(data["steps"])
    )
    return Challenge(
        nonce=data["nonce"],
        steps=steps,
        issued_at=utc(data["issued_at"]),
        expires_at=utc(data["expires_at"]),
    )
