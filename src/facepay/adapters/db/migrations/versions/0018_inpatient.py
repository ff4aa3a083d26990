"""Inpatient stays: admissions to a bed, deposits held for the stay, daily charge lines,
bedside check-ins and discharge settlements.

- `inpatient_stays`: one admission. Two partial unique indexes make the admission rules
  race-proof on both databases: one open stay (`status = 'admitted'`) per person in the whole
  region, and one per bed of a site.
- `inpatient_deposits`: money paid for a stay, with the ledger hold (`transfers.id`) that keeps
  it until the discharge, and what the standing discharge took of it.
- `inpatient_charges`: the stay's bill lines, unique by (stay, charge reference, line number).
- `inpatient_bedside`: one check-in at the bed per stay and day.
- `inpatient_discharges`: each discharge settlement of a stay, its settlement and netting of
  the deposit (applied, released, arrears), and its reversal.

The downgrade drops them (and what they recorded; the ledger's transfers and the settlements
stay).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

ID = sa.String(120)
KEY = sa.String(200)
TS = sa.DateTime(timezone=True)
OPEN_STAY = "status = 'admitted'"


def _fk(table: str, column: str, target: str, *, nullable: bool = False) -> sa.Column[str]:
    width = sa.String(40) if target in ("transfers.id", "settlements.id") else ID
    return sa.Column(
        column,
        width,
        sa.ForeignKey(target, name=f"fk_{table}_{column}"),
        nullable=nullable,
    )


def upgrade() -> None:
    """Create the inpatient tables."""
    t = "inpatient_stays"
    op.create_table(
        t,
        sa.Column("id", ID, nullable=False),
        _fk(t, "hospital_id", "hospitals.id"),
        _fk(t, "person_id", "insured_persons.id"),
        sa.Column("ward", sa.String(40), nullable=False),
        sa.Column("bed", sa.String(40), nullable=False),
        sa.Column("diagnosis_code", sa.String(20), nullable=False),
        sa.Column("diagnosis_text", sa.String(200), nullable=False),
        _fk(t, "attending_doctor_id", "staff_users.id"),
        sa.Column("hospital_tier", sa.Integer, nullable=False),
        sa.Column("admitted_on", sa.Date, nullable=False),
        sa.Column("admitted_at", TS, nullable=False),
        sa.Column("admitted_by", sa.String(200), nullable=False),
        sa.Column("identification_id", ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("discharged_at", TS),
        sa.Column("low_deposit_alerted", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        sa.CheckConstraint("status IN ('admitted', 'discharged')", name=f"ck_{t}_known_status"),
    )
    op.create_index(f"ix_{t}_person_id", t, ["person_id"])
    op.create_index(
        "uq_inpatient_stays_open_person",
        t,
        ["person_id"],
        unique=True,
        sqlite_where=sa.text(OPEN_STAY),
        postgresql_where=sa.text(OPEN_STAY),
    )
    op.create_index(
        "uq_inpatient_stays_open_bed",
        t,
        ["hospital_id", "ward", "bed"],
        unique=True,
        sqlite_where=sa.text(OPEN_STAY),
        postgresql_where=sa.text(OPEN_STAY),
    )

    t = "inpatient_deposits"
    op.create_table(
        t,
        sa.Column("id", ID, nullable=False),
        _fk(t, "stay_id", "inpatient_stays.id"),
        _fk(t, "hospital_id", "hospitals.id"),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("idempotency_key", KEY, nullable=False),
        _fk(t, "hold_id", "transfers.id"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("identification_id", ID),
        sa.Column("present_person_id", ID),
        sa.Column("applied", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        sa.UniqueConstraint("idempotency_key", name=f"uq_{t}_idempotency_key"),
        sa.CheckConstraint(
            "amount > 0 AND applied >= 0 AND applied <= amount", name=f"ck_{t}_amounts"
        ),
        sa.CheckConstraint("source IN ('cash', 'bank')", name=f"ck_{t}_known_source"),
    )
    op.create_index(f"ix_{t}_stay_id", t, ["stay_id"])

    t = "inpatient_charges"
    op.create_table(
        t,
        sa.Column("id", ID, nullable=False),
        _fk(t, "stay_id", "inpatient_stays.id"),
        _fk(t, "hospital_id", "hospitals.id"),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("service_date", sa.Date, nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("item_class", sa.String(1), nullable=False),
        sa.Column("unit_price", sa.BigInteger, nullable=False),
        sa.Column("quantity", sa.String(24), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        sa.UniqueConstraint("stay_id", "reference", "line_no", name=f"uq_{t}_stay_id"),
    )

    t = "inpatient_bedside"
    op.create_table(
        t,
        sa.Column("id", ID, nullable=False),
        _fk(t, "stay_id", "inpatient_stays.id"),
        _fk(t, "hospital_id", "hospitals.id"),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("identification_id", ID, nullable=False),
        sa.Column("present_person_id", ID, nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("proxy_grant_id", ID),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        sa.UniqueConstraint("stay_id", "day", name=f"uq_{t}_stay_id"),
    )

    t = "inpatient_discharges"
    op.create_table(
        t,
        sa.Column("id", ID, nullable=False),
        _fk(t, "stay_id", "inpatient_stays.id"),
        _fk(t, "hospital_id", "hospitals.id"),
        sa.Column("idempotency_key", KEY, nullable=False),
        _fk(t, "settlement_id", "settlements.id"),
        sa.Column("cash_share", sa.BigInteger, nullable=False),
        sa.Column("applied", sa.BigInteger, nullable=False),
        sa.Column("released", sa.BigInteger, nullable=False),
        sa.Column("arrears", sa.BigInteger, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reversal_key", KEY),
        sa.Column("reversed_at", TS),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        sa.UniqueConstraint("idempotency_key", name=f"uq_{t}_idempotency_key"),
        sa.UniqueConstraint("reversal_key", name=f"uq_{t}_reversal_key"),
        sa.CheckConstraint("applied + arrears = cash_share", name=f"ck_{t}_cash_share_met"),
        sa.CheckConstraint("status IN ('settled', 'reversed')", name=f"ck_{t}_known_status"),
    )
    op.create_index(f"ix_{t}_stay_id", t, ["stay_id"])


def downgrade() -> None:
    """Drop the inpatient tables."""
    for table in ("inpatient_discharges", "inpatient_bedside", "inpatient_charges"):
        op.drop_table(table)
    op.drop_index("ix_inpatient_deposits_stay_id", table_name="inpatient_deposits")
    op.drop_table("inpatient_deposits")
    for index in ("uq_inpatient_stays_open_bed", "uq_inpatient_stays_open_person"):
        op.drop_index(index, table_name="inpatient_stays")
    op.drop_index("ix_inpatient_stays_person_id", table_name="inpatient_stays")
    op.drop_table("inpatient_stays")
