"""A patient's offline balances: the site's vouchers of one person, found by index.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-20
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_offline_vouchers_person",
        "offline_vouchers",
        ["hospital_id", "person_id", "received_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_offline_vouchers_person", table_name="offline_vouchers")
