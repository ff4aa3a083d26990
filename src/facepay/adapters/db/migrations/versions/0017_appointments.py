"""Appointments bound to the person: each site's booking policy, schedules with their slots and
registration fee, bookings, and one row per booking person and site that bookings lock so that
two at once cannot pass the person's limits together.

A partial unique index keeps two live bookings (not cancelled) off one slot, on both databases.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

ID = sa.String(120)
KEY = sa.String(200)
AT = sa.DateTime(timezone=True)
LIVE = "status <> 'cancelled'"


def upgrade() -> None:
    op.create_table(
        "appointment_policies",
        sa.Column("hospital_id", ID, primary_key=True),
        sa.Column("per_department_day", sa.Integer, nullable=False),
        sa.Column("per_week", sa.Integer, nullable=False),
        sa.Column("release_min_seconds", sa.Integer, nullable=False),
        sa.Column("release_max_seconds", sa.Integer, nullable=False),
        sa.Column("cancel_cutoff_minutes", sa.Integer, nullable=False),
        sa.Column("check_in_early_minutes", sa.Integer, nullable=False),
        sa.Column("updated_at", AT, nullable=False),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospitals.id"]),
    )
    op.create_table(
        "appointment_schedules",
        sa.Column("id", ID, primary_key=True),
        sa.Column("hospital_id", ID, nullable=False),
        sa.Column("department", sa.String(40), nullable=False),
        sa.Column("doctor", sa.String(40), nullable=False),
        sa.Column("doctor_name", sa.String(120), nullable=False),
        sa.Column("session_date", sa.Date, nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("start_time", sa.String(5), nullable=False),
        sa.Column("end_time", sa.String(5), nullable=False),
        sa.Column("starts_at", AT, nullable=False),
        sa.Column("ends_at", AT, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("fee_code", sa.String(40), nullable=False),
        sa.Column("fee_name", sa.String(120), nullable=False),
        sa.Column("fee_item_class", sa.String(1), nullable=False),
        sa.Column("fee_fen", sa.BigInteger, nullable=False),
        sa.Column("hospital_tier", sa.Integer, nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospitals.id"]),
        sa.CheckConstraint("capacity >= 1", name="capacity_positive"),
        sa.CheckConstraint("fee_fen >= 0", name="fee_not_negative"),
        sa.UniqueConstraint(
            "hospital_id",
            "department",
            "doctor",
            "session_date",
            "start_time",
            name="uq_appointment_schedules_hospital_id",
        ),
    )
    op.create_index(
        "ix_appointment_schedules_day",
        "appointment_schedules",
        ["hospital_id", "session_date", "department"],
    )
    op.create_table(
        "appointment_holders",
        sa.Column("hospital_id", ID, primary_key=True),
        sa.Column("person_id", ID, primary_key=True),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospitals.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["insured_persons.id"]),
    )
    op.create_table(
        "appointments",
        sa.Column("id", ID, primary_key=True),
        sa.Column("hospital_id", ID, nullable=False),
        sa.Column("schedule_id", ID, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("idempotency_key", KEY, nullable=False),
        sa.Column("booked_at", AT, nullable=False),
        sa.Column("booked_by", sa.String(200), nullable=False),
        sa.Column("bill_id", ID),
        sa.Column("proxy_grant_id", ID),
        sa.Column("checked_in_at", AT),
        sa.Column("check_in_identification", ID),
        sa.Column("cancelled_at", AT),
        sa.Column("cancel_key", KEY),
        sa.Column("release_at", AT),
        sa.Column("refunded", sa.Boolean, nullable=False),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospitals.id"]),
        sa.ForeignKeyConstraint(["schedule_id"], ["appointment_schedules.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["insured_persons.id"]),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"]),
        sa.CheckConstraint("status IN ('booked', 'checked_in', 'cancelled')", name="known_status"),
        sa.CheckConstraint("channel IN ('kiosk', 'window', 'desk', 'his')", name="known_channel"),
        sa.CheckConstraint("slot >= 1", name="slot_positive"),
        sa.UniqueConstraint("hospital_id", "idempotency_key", name="uq_appointments_hospital_id"),
        sa.UniqueConstraint("hospital_id", "cancel_key", name="uq_appointments_cancel_key"),
    )
    op.create_index("ix_appointments_schedule_id", "appointments", ["schedule_id"])
    op.create_index("ix_appointments_person", "appointments", ["hospital_id", "person_id"])
    op.create_index(
        "uq_appointments_live_slot",
        "appointments",
        ["schedule_id", "slot"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_appointments_live_slot", table_name="appointments")
    op.drop_index("ix_appointments_person", table_name="appointments")
    op.drop_index("ix_appointments_schedule_id", table_name="appointments")
    op.drop_table("appointments")
    op.drop_table("appointment_holders")
    op.drop_index("ix_appointment_schedules_day", table_name="appointment_schedules")
    op.drop_table("appointment_schedules")
    op.drop_table("appointment_policies")
