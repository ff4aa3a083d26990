"""The schema as SQLAlchemy Core tables; Alembic migrations in `migrations/` create it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# Stable constraint names, so that migrations can refer to them on both databases.
metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
    }
)

KEY = String(200)
ID = String(120)

accounts = Table(
    "accounts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("owner", String(80), nullable=False),
    Column("side", String(6), nullable=False),
    Column("flags", Integer, nullable=False),
    Column("debits_posted", BigInteger, nullable=False, default=0),
    Column("credits_posted", BigInteger, nullable=False, default=0),
    Column("debits_pending", BigInteger, nullable=False, default=0),
    Column("credits_pending", BigInteger, nullable=False, default=0),
    CheckConstraint(
        "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0"
        " AND credits_pending >= 0",
        name="totals_not_negative",
    ),
    # The ledger checks the flags; the database refuses a bug that slips past it.
    CheckConstraint(
        "(flags & 1) = 0 OR debits_posted + debits_pending <= credits_posted",
        name="debits_within_credits",
    ),
    CheckConstraint(
        "(flags & 2) = 0 OR credits_posted + credits_pending <= debits_posted",
        name="credits_within_debits",
    ),
    UniqueConstraint("kind", "owner"),
)

posting_records = Table(
    "posting_records",
    metadata,
    Column("key", KEY, primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("request_key", KEY, ForeignKey("posting_records.key"), nullable=False),
    Column("batch_index", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("code", String(80), nullable=False),
    Column("debit_account_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("credit_account_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Unique: a hold is resolved, and a transfer reversed, at most once - even under races.
    Column("pending_id", String(40), ForeignKey("transfers.id"), unique=True),
    Column("expires_at", DateTime(timezone=True)),
    Column("reverses_id", String(40), ForeignKey("transfers.id"), unique=True),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
    UniqueConstraint("request_key", "batch_index"),
    Index("ix_transfers_open_holds", "kind", "expires_at"),
)

settlements = Table(
    "settlements",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("idempotency_key", KEY, nullable=False, unique=True),
    Column("fingerprint", String(64), nullable=False),
    Column("person_id", ID, nullable=False, index=True),
    Column("year", Integer, nullable=False),
    Column("policy_id", String(120), nullable=False),
    Column("visit_type", String(16), nullable=False),
    Column("service_date", Date, nullable=False),
    Column("medfee_sumamt", BigInteger, nullable=False),
    Column("fund_pay_sumamt", BigInteger, nullable=False),
    Column("hifp_pay", BigInteger, nullable=False),
    Column("hifmi_pay", BigInteger, nullable=False),
    Column("maf_pay", BigInteger, nullable=False),
    Column("psn_part_amt", BigInteger, nullable=False),
    Column("acct_pay", BigInteger, nullable=False),
    Column("psn_cash_pay", BigInteger, nullable=False),
    Column("document", Text, nullable=False),  # the whole settlement as JSON, explanation included
    Column("posting_key", KEY, ForeignKey("posting_records.key")),
    Column("status", String(16), nullable=False),
    Column("reversal_key", KEY, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("reversed_at", DateTime(timezone=True)),
    CheckConstraint("medfee_sumamt = fund_pay_sumamt + psn_part_amt", name="sum_identity"),
    CheckConstraint("psn_part_amt = acct_pay + psn_cash_pay", name="person_identity"),
)

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

accumulators = Table(
    "accumulators",
    metadata,
    Column("person_id", ID, primary_key=True),
    Column("year", Integer, primary_key=True),
    *(Column(name, BigInteger, nullable=False, default=0) for name in ACCUMULATOR_FIELDS),
)
