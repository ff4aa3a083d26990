"""Platform operators: staff of the insurance bureau who belong to no hospital.

`staff_users.hospital_id` becomes nullable, and a check ties NULL to the `platform_operator` role
and to it only. Existing staff all belong to a hospital, so no row changes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CHECK = "platform_has_no_hospital"


def upgrade() -> None:
    """Let platform operators have no hospital."""
    with op.batch_alter_table("staff_users") as batch:
        batch.alter_column("hospital_id", existing_type=sa.String(120), nullable=True)
        batch.create_check_constraint(CHECK, "(role = 'platform_operator') = (hospital_id IS NULL)")


def downgrade() -> None:
    """Drop the platform operators (the old schema cannot hold them) and the check."""
    op.execute("DELETE FROM staff_users WHERE hospital_id IS NULL")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_constraint(CHECK, type_="check")
        batch.alter_column("hospital_id", existing_type=sa.String(120), nullable=False)
