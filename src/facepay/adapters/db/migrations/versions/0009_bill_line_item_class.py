"""One bill line format: a line's class is `item_class` everywhere.

The API took `item_class` while the interchange format (the `facepay settle` bill file, and the
stored `bills.document`) took `class`. The stored documents are rewritten with the one name; the
downgrade writes `class` back.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BATCH = 500


def _rename(old: str, new: str) -> None:
    bills = sa.table("bills", sa.column("id", sa.String), sa.column("document", sa.Text))
    conn = op.get_bind()
    last = ""
    while True:
        rows = conn.execute(
            sa.select(bills.c.id, bills.c.document)
            .where(bills.c.id > last)
            .order_by(bills.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for bill_id, document in rows:
            body = json.loads(document)
            lines = body.get("lines", [])
            if any(old in line for line in lines):
                body["lines"] = [
                    {(new if key == old else key): value for key, value in line.items()}
                    for line in lines
                ]
                conn.execute(
                    bills.update()
                    .where(bills.c.id == bill_id)
                    .values(document=json.dumps(body, ensure_ascii=False, sort_keys=True))
                )
        last = rows[-1][0]


def upgrade() -> None:
    _rename("class", "item_class")


def downgrade() -> None:
    _rename("item_class", "class")
