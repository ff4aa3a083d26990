"""Each settlement keeps what it was computed from: the bill (lines, tier, date) and the
coverage (category, assistance, the personal account available), next to the accumulators and
policy it already records, so that any settlement can be recomputed and checked later.

Settlements made before this revision keep NULL: their inputs were never stored.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("settlements") as batch:
        batch.add_column(sa.Column("inputs", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("settlements") as batch:
        batch.drop_column("inputs")
