"""Emergency: region-wide identifications at an emergency desk, emergency records with their
ER-<day>-<n> numbers (one counter per site and day) and the charges made to them.

The arrears themselves are ledger accounts (kinds `emergency_arrears` and `hospital_unsettled`),
opened when first charged: no table of their own.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ID = sa.String(120)
KEY = sa.String(200)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "emergency_identifications",
        sa.Column("id", ID, nullable=False),
        sa.Column("hospital_id", ID, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason_code", sa.String(20), nullable=False),
        sa.Column("reason_note", sa.String(200)),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("person_id", ID),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("used_at", WHEN),
        sa.Column("used_for", ID),
        sa.PrimaryKeyConstraint("id", name="pk_emergency_identifications"),
        sa.ForeignKeyConstraint(
            ["hospital_id"], ["hospitals.id"], name="fk_emergency_identifications_hospital_id"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["insured_persons.id"], name="fk_emergency_identifications_person_id"
        ),
        sa.CheckConstraint(
            "reason_code IN ('unconscious', 'confused', 'no_documents', 'minor_alone', 'other')",
            name="known_reason",
        ),
        sa.CheckConstraint("mode IN ('cooperative', 'assisted')", name="known_mode"),
    )
    op.create_index(
        "ix_emergency_identifications_hospital_id", "emergency_identifications", ["hospital_id"]
    )
    op.create_table(
        "emergency_counters",
        sa.Column("hospital_id", ID, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("last", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("hospital_id", "day", name="pk_emergency_counters"),
        sa.ForeignKeyConstraint(
            ["hospital_id"], ["hospitals.id"], name="fk_emergency_counters_hospital_id"
        ),
    )
    op.create_table(
        "emergency_records",
        sa.Column("id", ID, nullable=False),
        sa.Column("hospital_id", ID, nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("visit_type", sa.String(16), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("estimated_age", sa.Integer),
        sa.Column("notes", sa.String(500), nullable=False),
        sa.Column("person_id", ID),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", WHEN, nullable=False),
        sa.Column("opened_by", sa.String(200), nullable=False),
        sa.Column("charged_fen", sa.BigInteger, nullable=False),
        sa.Column("line_count", sa.Integer, nullable=False),
        sa.Column("merged_at", WHEN),
        sa.Column("merged_by", sa.String(200)),
        sa.Column("bill_id", ID),
        sa.PrimaryKeyConstraint("id", name="pk_emergency_records"),
        sa.ForeignKeyConstraint(
            ["hospital_id"], ["hospitals.id"], name="fk_emergency_records_hospital_id"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["insured_persons.id"], name="fk_emergency_records_person_id"
        ),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"], name="fk_emergency_records_bill_id"),
        sa.UniqueConstraint("hospital_id", "number", name="uq_emergency_records_hospital_id"),
        sa.UniqueConstraint("bill_id", name="uq_emergency_records_bill_id"),
        sa.CheckConstraint("status IN ('open', 'merged', 'settled')", name="known_status"),
        sa.CheckConstraint("charged_fen >= 0 AND line_count >= 0", name="counts_not_negative"),
        sa.CheckConstraint("(status = 'open') = (bill_id IS NULL)", name="bill_once_merged"),
    )
    op.create_index("ix_emergency_records_person_id", "emergency_records", ["person_id"])
    op.create_index(
        "ix_emergency_records_hospital_status",
        "emergency_records",
        ["hospital_id", "status", "opened_at"],
    )
    op.create_table(
        "emergency_charges",
        sa.Column("id", ID, nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("hospital_id", ID, nullable=False),
        sa.Column("idempotency_key", KEY, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("lines", sa.Text, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("posting_key", KEY, nullable=False),
        sa.Column("charged_at", WHEN, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_emergency_charges"),
        sa.ForeignKeyConstraint(
            ["record_id"], ["emergency_records.id"], name="fk_emergency_charges_record_id"
        ),
        sa.ForeignKeyConstraint(
            ["hospital_id"], ["hospitals.id"], name="fk_emergency_charges_hospital_id"
        ),
        sa.ForeignKeyConstraint(
            ["posting_key"], ["posting_records.key"], name="fk_emergency_charges_posting_key"
        ),
        sa.UniqueConstraint(
            "hospital_id", "idempotency_key", name="uq_emergency_charges_hospital_id"
        ),
        sa.CheckConstraint("total > 0", name="total_positive"),
    )
    op.create_index("ix_emergency_charges_record_id", "emergency_charges", ["record_id"])


def downgrade() -> None:
    op.drop_index("ix_emergency_charges_record_id", table_name="emergency_charges")
    op.drop_table("emergency_charges")
    op.drop_index("ix_emergency_records_hospital_status", table_name="emergency_records")
    op.drop_index("ix_emergency_records_person_id", table_name="emergency_records")
    op.drop_table("emergency_records")
    op.drop_table("emergency_counters")
    op.drop_index(
        "ix_emergency_identifications_hospital_id", table_name="emergency_identifications"
    )
    op.drop_table("emergency_identifications")
