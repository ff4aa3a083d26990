"""Tenants (hospitals, terminals, staff, seen nonces), the insurance registry, sealed face
templates, consents, erasures, identifications, bills, supervision alerts and the audit log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(120)
TS = sa.DateTime(timezone=True)


def _fk(column: str, target: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(column, ID, sa.ForeignKey(target), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    """Create the tables."""
    op.create_table(
        "hospitals",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "terminals",
        sa.Column("id", ID, primary_key=True),
        _fk("hospital_id", "hospitals.id", nullable=False, index=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "staff_users",
        sa.Column("id", ID, primary_key=True),
        _fk("hospital_id", "hospitals.id", nullable=False, index=True),
        sa.Column("username", sa.String(80), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "seen_nonces",
        sa.Column("terminal_id", ID, primary_key=True),
        sa.Column("nonce", sa.String(200), primary_key=True),
        sa.Column("expires_at", TS, nullable=False, index=True),
    )
    op.create_table(
        "insured_persons",
        sa.Column("id", ID, primary_key=True),
        sa.Column("id_number", sa.String(18), nullable=False, unique=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("insurance_card_number", sa.String(40), nullable=False),
        sa.Column("phone", sa.String(20)),
        sa.Column("medical_assistance", sa.Boolean, nullable=False),
    )
    op.create_table(
        "face_templates",
        sa.Column("id", ID, primary_key=True),
        _fk("person_id", "insured_persons.id", nullable=False),
        _fk("hospital_id", "hospitals.id", nullable=False),
        sa.Column("model_version", sa.String(80), nullable=False, index=True),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("person_id", "hospital_id", "model_version"),
    )
    op.create_table(
        "biometric_consents",
        sa.Column("id", ID, primary_key=True),
        _fk("person_id", "insured_persons.id", nullable=False),
        _fk("hospital_id", "hospitals.id", nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("given_at", TS, nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("withdrawn_at", TS),
        sa.Column("withdrawn_by", sa.String(200)),
        sa.Index("ix_biometric_consents_person_hospital", "person_id", "hospital_id"),
    )
    op.create_table(
        "erasures",
        sa.Column("id", ID, primary_key=True),
        _fk("person_id", "insured_persons.id", nullable=False),
        _fk("hospital_id", "hospitals.id", nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("templates_deleted", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
    )
    op.create_table(
        "identifications",
        sa.Column("id", ID, primary_key=True),
        _fk("hospital_id", "hospitals.id", nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        _fk("person_id", "insured_persons.id"),
        sa.Column("contenders", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS),
        sa.Column("used_for", ID),
        sa.Column("failed_attempts", sa.Integer, nullable=False),
    )
    op.create_table(
        "bills",
        sa.Column("id", ID, primary_key=True),
        _fk("hospital_id", "hospitals.id", nullable=False),
        _fk("person_id", "insured_persons.id", nullable=False, index=True),
        sa.Column("external_ref", sa.String(100), nullable=False),
        sa.Column("point_of_sale", sa.String(20), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("settlement_id", sa.String(40), sa.ForeignKey("settlements.id")),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("paid_at", TS),
        sa.UniqueConstraint("hospital_id", "external_ref"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", ID, primary_key=True),
        _fk("hospital_id", "hospitals.id", nullable=False, index=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject", ID, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )


def downgrade() -> None:
    """Drop them, dependents first."""
    for table in (
        "audit_log",
        "alerts",
        "bills",
        "identifications",
        "erasures",
        "biometric_consents",
        "face_templates",
        "insured_persons",
        "seen_nonces",
        "staff_users",
        "terminals",
        "hospitals",
    ):
        op.drop_table(table)
