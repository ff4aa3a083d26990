"""Quarantined templates and installation facts.

`face_templates.quarantined_at` / `quarantine_reason`: a row whose sealed bytes fail
authentication is kept out of matching (and reported) instead of stopping the server.
`installation`: name/value facts, first the id of the key the templates are sealed with, so that
a start with another key file is refused in one sentence.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the quarantine columns and the installation table."""
    with op.batch_alter_table("face_templates") as batch:
        batch.add_column(sa.Column("quarantined_at", TS, nullable=True))
        batch.add_column(sa.Column("quarantine_reason", sa.String(200), nullable=True))
    op.create_table(
        "installation",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    """Drop them (quarantined rows stay, unmarked: the next start quarantines them again)."""
    op.drop_table("installation")
    with op.batch_alter_table("face_templates") as batch:
        batch.drop_column("quarantine_reason")
        batch.drop_column("quarantined_at")
