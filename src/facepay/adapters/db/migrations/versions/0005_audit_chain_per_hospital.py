"""One audit chain per hospital and one for the platform: `audit_log.chain`, and (chain, seq) as
the primary key.

Existing entries were hashed as one chain: they keep their hashes and numbers and become the
platform chain (`chain = 'platform'`), which platform operators read and verify. New entries go
to the chain of the hospital their details name.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PLATFORM = "platform"


def upgrade() -> None:
    """Add the chain column (existing rows: the platform chain) and widen the primary key."""
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(
            sa.Column("chain", sa.String(120), nullable=False, server_default=PLATFORM)
        )
    with op.batch_alter_table("audit_log", recreate="always") as batch:
        batch.drop_constraint("pk_audit_log", type_="primary")
        batch.create_primary_key("pk_audit_log", ["chain", "seq"])
        batch.alter_column("chain", existing_type=sa.String(120), server_default=None)


def downgrade() -> None:
    """Back to one chain: only possible while every entry is still in the platform chain."""
    bind = op.get_bind()
    query = sa.text("SELECT count(*) FROM audit_log WHERE chain <> :p")
    others = bind.execute(query, {"p": PLATFORM})
    if others.scalar_one():
        raise RuntimeError("hospital audit chains exist: they cannot be merged into one chain")
    with op.batch_alter_table("audit_log", recreate="always") as batch:
        batch.drop_constraint("pk_audit_log", type_="primary")
        batch.create_primary_key("pk_audit_log", ["seq"])
        batch.drop_column("chain")
