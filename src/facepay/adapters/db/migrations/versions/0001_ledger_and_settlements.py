"""Ledger (accounts, posting records, transfers), settlements and yearly accumulators.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

KEY = sa.String(200)
ID = sa.String(120)
ACCUMULATOR_FIELDS = (
    "outpatient_deductible_used",
    "outpatient_eligible",
    "outpatient_fund_paid",
    "inpatient_admissions",
    "inpatient_eligible",
    "inpatient_fund_paid",
    "burden",
    "critical_illness_paid",
    "assistance_paid",
)


def _money(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger, nullable=False)


def upgrade() -> None:
    """Create the tables."""
    op.create_table(
        "accounts",
        sa.Column("id", ID, primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("owner", sa.String(80), nullable=False),
        sa.Column("side", sa.String(6), nullable=False),
        sa.Column("flags", sa.Integer, nullable=False),
        *(_money(n) for n in ("debits_posted", "credits_posted")),
        *(_money(n) for n in ("debits_pending", "credits_pending")),
        sa.CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0"
            " AND credits_pending >= 0",
            name="totals_not_negative",
        ),
        sa.CheckConstraint(
            "(flags & 1) = 0 OR debits_posted + debits_pending <= credits_posted",
            name="debits_within_credits",
        ),
        sa.CheckConstraint(
            "(flags & 2) = 0 OR credits_posted + credits_pending <= debits_posted",
            name="credits_within_debits",
        ),
        sa.UniqueConstraint("kind", "owner", name="uq_accounts_kind"),
    )
    op.create_table(
        "posting_records",
        sa.Column("key", KEY, primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "transfers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("request_key", KEY, sa.ForeignKey("posting_records.key"), nullable=False),
        sa.Column("batch_index", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("code", sa.String(80), nullable=False),
        sa.Column("debit_account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("credit_account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
        _money("amount"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pending_id", sa.String(40), sa.ForeignKey("transfers.id")),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("reverses_id", sa.String(40), sa.ForeignKey("transfers.id")),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
        sa.UniqueConstraint("pending_id", name="uq_transfers_pending_id"),
        sa.UniqueConstraint("reverses_id", name="uq_transfers_reverses_id"),
        sa.UniqueConstraint("request_key", "batch_index", name="uq_transfers_request_key"),
    )
    op.create_index("ix_transfers_open_holds", "transfers", ["kind", "expires_at"])
    op.create_table(
        "settlements",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("idempotency_key", KEY, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("policy_id", sa.String(120), nullable=False),
        sa.Column("visit_type", sa.String(16), nullable=False),
        sa.Column("service_date", sa.Date, nullable=False),
        *(
            _money(n)
            for n in (
                "medfee_sumamt",
                "fund_pay_sumamt",
                "hifp_pay",
                "hifmi_pay",
                "maf_pay",
                "psn_part_amt",
                "acct_pay",
                "psn_cash_pay",
            )
        ),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("posting_key", KEY, sa.ForeignKey("posting_records.key")),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reversal_key", KEY),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reversed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("medfee_sumamt = fund_pay_sumamt + psn_part_amt", name="sum_identity"),
        sa.CheckConstraint("psn_part_amt = acct_pay + psn_cash_pay", name="person_identity"),
        sa.UniqueConstraint("idempotency_key", name="uq_settlements_idempotency_key"),
        sa.UniqueConstraint("reversal_key", name="uq_settlements_reversal_key"),
    )
    op.create_index("ix_settlements_person_id", "settlements", ["person_id"])
    op.create_table(
        "accumulators",
        sa.Column("person_id", ID, primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        *(_money(n) for n in ACCUMULATOR_FIELDS),
    )


def downgrade() -> None:
    """Drop the tables."""
    for table in ("accumulators", "settlements", "transfers", "posting_records", "accounts"):
        op.drop_table(table)
