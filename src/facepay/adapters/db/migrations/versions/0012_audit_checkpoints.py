"""Signed audit checkpoints: `audit_checkpoints` keeps, for each checkpoint, the heads of every
audit chain at that moment, its link to the previous checkpoint, the key id and the Ed25519
signature (facepay.supervision.audit_checkpoint).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heads", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(80), nullable=False),
        sa.Column("signature", sa.String(120), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_checkpoints"),
        sa.UniqueConstraint("hash", name="uq_audit_checkpoints_hash"),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
