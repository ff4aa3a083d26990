"""What a paid bill sets going: hospital-side order data on bills (`bills.line_orders`, NULL
for bills posted without it), dispensing orders per (bill, pharmacy window) with the window
events their streams send, and service requests (exams and lab tests) with their results.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ID = sa.String(120)


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("bills") as batch:
        batch.add_column(sa.Column("line_orders", sa.Text, nullable=True))
    op.create_table(
        "dispensing_orders",
        sa.Column("id", ID, primary_key=True),
        sa.Column("hospital_id", ID, sa.ForeignKey("hospitals.id"), nullable=False),
        sa.Column("bill_id", ID, sa.ForeignKey("bills.id"), nullable=False),
        sa.Column("person_id", ID, sa.ForeignKey("insured_persons.id"), nullable=False),
        sa.Column("window", sa.String(60), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lines", sa.Text, nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.UniqueConstraint("bill_id", "window", name="uq_dispensing_orders_bill_id"),
        sa.CheckConstraint("status IN ('queued', 'partial', 'done')", name="known_status"),
    )
    op.create_index(
        "ix_dispensing_orders_window",
        "dispensing_orders",
        ["hospital_id", "window", "status", "created_at"],
    )
    op.create_table(
        "dispensing_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("hospital_id", ID, sa.ForeignKey("hospitals.id"), nullable=False),
        sa.Column("window", sa.String(60), nullable=False),
        sa.Column("order_id", ID, sa.ForeignKey("dispensing_orders.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _at("at"),
        sa.CheckConstraint("kind IN ('created', 'collected', 'returned')", name="known_kind"),
    )
    op.create_index(
        "ix_dispensing_events_window", "dispensing_events", ["hospital_id", "window", "seq"]
    )
    op.create_table(
        "service_requests",
        sa.Column("id", ID, primary_key=True),
        sa.Column("hospital_id", ID, sa.ForeignKey("hospitals.id"), nullable=False),
        sa.Column("bill_id", ID, sa.ForeignKey("bills.id"), nullable=False),
        sa.Column("line_code", sa.String(40), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("department", sa.String(60), nullable=False),
        sa.Column("ordered_by", ID, nullable=False),
        sa.Column("person_id", ID, sa.ForeignKey("insured_persons.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _at("created_at"),
        _at("checked_in_at", nullable=True),
        _at("done_at", nullable=True),
        sa.Column("result", sa.Text, nullable=True),
        _at("ready_at", nullable=True),
        sa.UniqueConstraint("bill_id", "line_code", name="uq_service_requests_bill_id"),
        sa.CheckConstraint(
            "status IN ('requested', 'checked_in', 'done', 'reported')", name="known_status"
        ),
    )
    op.create_index(
        "ix_service_requests_worklist",
        "service_requests",
        ["hospital_id", "department", "status", "created_at"],
    )
    op.create_index(
        "ix_service_requests_person", "service_requests", ["hospital_id", "person_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_service_requests_person", table_name="service_requests")
    op.drop_index("ix_service_requests_worklist", table_name="service_requests")
    op.drop_table("service_requests")
    op.drop_index("ix_dispensing_events_window", table_name="dispensing_events")
    op.drop_table("dispensing_events")
    op.drop_index("ix_dispensing_orders_window", table_name="dispensing_orders")
    op.drop_table("dispensing_orders")
    with op.batch_alter_table("bills") as batch:
        batch.drop_column("line_orders")
