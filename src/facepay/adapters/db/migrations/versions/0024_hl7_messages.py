"""HL7 v2 over MLLP: inbound messages (deduplicated on MSH-10 per site and sender, with their
ACK), the hospital system's patient ids linked to insured persons, the notifier's cursors.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

ID = sa.String(120)


def upgrade() -> None:
    op.create_table(
        "hl7_messages",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("hospital_id", ID, sa.ForeignKey("hospitals.id"), nullable=False),
        sa.Column("sending_application", sa.String(180), nullable=False),
        sa.Column("sending_facility", sa.String(180), nullable=False),
        sa.Column("control_id", sa.String(199), nullable=False),
        sa.Column("message_type", sa.String(20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("ack_code", sa.String(2), nullable=False),
        sa.Column("ack", sa.Text, nullable=False),
        sa.Column("error", sa.String(300)),
        sa.Column("raw", sa.Text),
        sa.CheckConstraint("status IN ('applied', 'error', 'rejected')", name="known_status"),
        sa.CheckConstraint("ack_code IN ('AA', 'AE', 'AR')", name="known_ack"),
        sa.UniqueConstraint(
            "hospital_id",
            "sending_application",
            "sending_facility",
            "control_id",
            name="uq_hl7_messages_key",
        ),
    )
    op.create_index("ix_hl7_messages_received", "hl7_messages", ["received_at"])
    op.create_table(
        "his_patients",
        sa.Column("hospital_id", ID, sa.ForeignKey("hospitals.id"), primary_key=True),
        sa.Column("his_patient_id", sa.String(64), primary_key=True),
        sa.Column("person_id", ID, sa.ForeignKey("insured_persons.id"), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_his_patients_person", "his_patients", ["hospital_id", "person_id"])
    op.create_table(
        "hl7_cursors",
        sa.Column("hospital_id", ID, sa.ForeignKey("hospitals.id"), primary_key=True),
        sa.Column("endpoint", sa.String(300), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hl7_cursors")
    op.drop_index("ix_his_patients_person", table_name="his_patients")
    op.drop_table("his_patients")
    op.drop_index("ix_hl7_messages_received", table_name="hl7_messages")
    op.drop_table("hl7_messages")
