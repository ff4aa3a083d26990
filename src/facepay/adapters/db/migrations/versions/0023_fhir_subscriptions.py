"""The FHIR facade: rest-hook subscriptions with their durable cursors and delivery leases, and
the indexes its searches page by (a site's bills and settlements in time order).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

ID = sa.String(120)
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "fhir_subscriptions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("hospital_id", ID, sa.ForeignKey("hospitals.id"), nullable=False),
        sa.Column("criteria", sa.String(60), nullable=False),
        sa.Column("endpoint", sa.String(500), nullable=False),
        sa.Column("payload", sa.Boolean, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cursor", sa.BigInteger, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", AT),
        sa.Column("last_error", sa.String(300)),
        sa.Column("lease_owner", sa.String(80)),
        sa.Column("lease_until", AT),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", AT, nullable=False),
    )
    op.create_index(
        "ix_fhir_subscriptions_hospital", "fhir_subscriptions", ["hospital_id", "created_at"]
    )
    op.create_index(
        "ix_fhir_subscriptions_due", "fhir_subscriptions", ["status", "next_attempt_at"]
    )
    op.create_index("ix_bills_hospital_created", "bills", ["hospital_id", "created_at", "id"])
    op.create_index(
        "ix_settlements_hospital_created", "settlements", ["hospital_id", "created_at", "id"]
    )
    op.create_index(
        "ix_settlements_hospital_reversed", "settlements", ["hospital_id", "reversed_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_settlements_hospital_reversed", table_name="settlements")
    op.drop_index("ix_settlements_hospital_created", table_name="settlements")
    op.drop_index("ix_bills_hospital_created", table_name="bills")
    op.drop_index("ix_fhir_subscriptions_due", table_name="fhir_subscriptions")
    op.drop_index("ix_fhir_subscriptions_hospital", table_name="fhir_subscriptions")
    op.drop_table("fhir_subscriptions")
