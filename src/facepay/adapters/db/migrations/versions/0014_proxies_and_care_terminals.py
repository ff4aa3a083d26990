"""Guardians and carers who may act for a patient (`proxy_grants`), and the terminal kinds of
the hospital flows: a ward's bedside terminal, an exam room's camera, the lab / imaging system.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

CHECK = "known_kind"
OLD_KINDS = "kind IN ('kiosk', 'window', 'his')"
NEW_KINDS = "kind IN ('kiosk', 'window', 'his', 'ward', 'exam_room', 'lis_pacs')"


def upgrade() -> None:
    with op.batch_alter_table("terminals") as batch:
        batch.drop_constraint(CHECK, type_="check")
        batch.create_check_constraint(CHECK, NEW_KINDS)
    op.create_table(
        "proxy_grants",
        sa.Column("id", sa.String(120), primary_key=True),
        sa.Column("patient_id", sa.String(120), nullable=False),
        sa.Column("proxy_id", sa.String(120), nullable=False),
        sa.Column("relation", sa.String(20), nullable=False),
        sa.Column("basis", sa.String(20), nullable=False),
        sa.Column("acts", sa.String(60), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hospital_id", sa.String(120), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("evidence_ref", sa.String(100)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_by", sa.String(200)),
        sa.ForeignKeyConstraint(["patient_id"], ["insured_persons.id"]),
        sa.ForeignKeyConstraint(["proxy_id"], ["insured_persons.id"]),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospitals.id"]),
        sa.CheckConstraint("patient_id <> proxy_id", name="not_own_proxy"),
        sa.CheckConstraint("valid_until > valid_from", name="period_forward"),
        sa.CheckConstraint(
            "basis IN ('patient_consent', 'parent_of_minor', 'court_order')", name="known_basis"
        ),
    )
    for column in ("patient_id", "proxy_id", "hospital_id"):
        op.create_index(f"ix_proxy_grants_{column}", "proxy_grants", [column])
    live = sa.text("revoked_at IS NULL")
    op.create_index(
        "uq_proxy_grants_live_pair",
        "proxy_grants",
        ["patient_id", "proxy_id"],
        unique=True,
        sqlite_where=live,
        postgresql_where=live,
    )


def downgrade() -> None:
    op.drop_table("proxy_grants")
    op.execute(
        "UPDATE terminals SET active = false WHERE kind IN ('ward', 'exam_room', 'lis_pacs')"
    )
    op.execute(
        "UPDATE terminals SET kind = 'kiosk' WHERE kind IN ('ward', 'exam_room', 'lis_pacs')"
    )
    with op.batch_alter_table("terminals") as batch:
        batch.drop_constraint(CHECK, type_="check")
        batch.create_check_constraint(CHECK, OLD_KINDS)
