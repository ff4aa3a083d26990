"""The template rows a key rotation re-seals, read and replaced in batches of one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, and_, bindparam, select, update

from facepay.adapters.db.errors import DRIVER_ERRORS, translate
from facepay.adapters.db.tables import face_templates
from facepay.services.key_rotation import SealedRow


class SqlAlchemySealedRows:
    """`SealedRows` on an engine: each call is its own short transaction, so a server using
    the same database waits at most one batch for its writes."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def after(self, template_id: str, *, limit: int) -> list[SealedRow]:
        """Up to `limit` rows whose id sorts after `template_id`, in id order."""
        t = face_templates
        query = (
            select(t.c.id, t.c.model_version, t.c.sealed, t.c.quarantined_at)
            .where(t.c.id > template_id)
            .order_by(t.c.id)
            .limit(limit)
        )
        try:
            with self._engine.connect() as connection:
                return [
                    SealedRow(
                        row.id, row.model_version, bytes(row.sealed), row.quarantined_at is not None
                    )
                    for row in connection.execute(query)
                ]
        except DRIVER_ERRORS as error:
            raise translate(error) from error

    def replace(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        """Compare-and-set each row's sealed bytes, all in one transaction."""
        t = face_templates
        statement = (
            update(t)
            .where(and_(t.c.id == bindparam("row_id"), t.c.sealed == bindparam("old")))
            .values(sealed=bindparam("new"))
        )
        params = [{"row_id": i, "old": old, "new": new} for i, old, new in changes]
        try:
            with self._engine.begin() as connection:
                return sum(connection.execute(statement, [p]).rowcount for p in params)
        except DRIVER_ERRORS as error:
            raise translate(error) from error
