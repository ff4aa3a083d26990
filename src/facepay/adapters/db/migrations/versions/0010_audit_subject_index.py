"""An index on the audit log's (chain, subject): staff read a liveness refusal's entry by its
decision id (GET /v1/liveness/decisions/{id}) without scanning the hospital's chain.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_log_chain_subject", "audit_log", ["chain", "subject"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_chain_subject", table_name="audit_log")
