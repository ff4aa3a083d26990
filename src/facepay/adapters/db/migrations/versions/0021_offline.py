"""Offline payment: each site's offline limits, the terminals' sealing keys, the packages issued
to them, each terminal's voucher chain position and the vouchers received.

A partial unique index keeps two vouchers that are not quarantined off one (terminal, counter),
on both databases; the voucher id is the primary key.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

ID = sa.String(120)
AT = sa.DateTime(timezone=True)
LIVE = "status <> 'quarantined'"


def upgrade() -> None:
    with op.batch_alter_table("terminals") as batch:
        batch.add_column(sa.Column("sealing_key", sa.LargeBinary(32)))
        batch.add_column(sa.Column("sealing_key_at", AT))
    op.create_table(
        "offline_limits",
        sa.Column("hospital_id", ID, primary_key=True),
        sa.Column("limits", sa.Text, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("updated_at", AT, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospitals.id"]),
    )
    op.create_table(
        "offline_issues",
        sa.Column("terminal_id", ID, primary_key=True),
        sa.Column("library_version", sa.String(64), primary_key=True),
        sa.Column("limits_version", sa.String(64), primary_key=True),
        sa.Column("hospital_id", ID, nullable=False),
        sa.Column("limits", sa.Text, nullable=False),
        sa.Column("templates", sa.Text, nullable=False),
        sa.Column("library_sha256", sa.String(64), nullable=False),
        sa.Column("issued_at", AT, nullable=False),
        sa.Column("last_issued_at", AT, nullable=False),
        sa.ForeignKeyConstraint(["terminal_id"], ["terminals.id"]),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospitals.id"]),
    )
    op.create_table(
        "offline_sync_state",
        sa.Column("terminal_id", ID, primary_key=True),
        sa.Column("last_counter", sa.BigInteger, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["terminal_id"], ["terminals.id"]),
    )
    op.create_table(
        "offline_vouchers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("terminal_id", ID, nullable=False),
        sa.Column("hospital_id", ID, nullable=False),
        sa.Column("counter", sa.BigInteger, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reason", sa.String(40)),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("bill_id", ID, nullable=False),
        sa.Column("cash_collected_fen", sa.BigInteger, nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("received_at", AT, nullable=False),
        sa.Column("settlement_id", sa.String(40)),
        sa.Column("difference_kind", sa.String(12), nullable=False),
        sa.Column("difference_fen", sa.BigInteger, nullable=False),
        sa.Column("message", sa.String(300), nullable=False),
        sa.Column("decided_at", AT),
        sa.Column("review", sa.String(8)),
        sa.Column("reviewed_by", sa.String(200)),
        sa.Column("review_note", sa.String(300)),
        sa.ForeignKeyConstraint(["terminal_id"], ["terminals.id"]),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospitals.id"]),
        sa.ForeignKeyConstraint(["settlement_id"], ["settlements.id"]),
        sa.CheckConstraint("status IN ('posted', 'held', 'quarantined')", name="known_status"),
        sa.CheckConstraint(
            "difference_kind IN ('none', 'arrears', 'refund_due')", name="known_difference"
        ),
        sa.CheckConstraint("review IS NULL OR review IN ('post', 'reject')", name="known_review"),
        sa.CheckConstraint("counter >= 1 AND difference_fen >= 0", name="amounts_valid"),
    )
    op.create_index(
        "ix_offline_vouchers_site", "offline_vouchers", ["hospital_id", "received_at", "id"]
    )
    op.create_index(
        "uq_offline_vouchers_live_counter",
        "offline_vouchers",
        ["terminal_id", "counter"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_offline_vouchers_live_counter", table_name="offline_vouchers")
    op.drop_index("ix_offline_vouchers_site", table_name="offline_vouchers")
    op.drop_table("offline_vouchers")
    op.drop_table("offline_sync_state")
    op.drop_table("offline_issues")
    op.drop_table("offline_limits")
    with op.batch_alter_table("terminals") as batch:
        batch.drop_column("sealing_key_at")
        batch.drop_column("sealing_key")
