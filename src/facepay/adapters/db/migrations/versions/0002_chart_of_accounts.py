"""The system accounts every deployment needs: fund pools, hospital receivables and revenue,
cash and bank clearing. Personal accounts, wallets and arrears open per person.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

HOSPITAL = "hospital"
# (kind, owner, side, flags): frozen here, as a migration must not follow later code changes.
SYSTEM_ACCOUNTS = [
    *(("fund_pool", fund, "credit", 0) for fund in ("hifp", "hifmi", "maf", "acct")),
    *(("hospital_receivable", fund, "credit", 0) for fund in ("hifp", "hifmi", "maf")),
    ("hospital_revenue", HOSPITAL, "credit", 0),
    ("cash_clearing", "cash", "debit", 0),
    ("cash_clearing", "bank", "debit", 0),
]

accounts = sa.table(
    "accounts",
    sa.column("id", sa.String),
    sa.column("kind", sa.String),
    sa.column("owner", sa.String),
    sa.column("side", sa.String),
    sa.column("flags", sa.Integer),
    sa.column("debits_posted", sa.BigInteger),
    sa.column("credits_posted", sa.BigInteger),
    sa.column("debits_pending", sa.BigInteger),
    sa.column("credits_pending", sa.BigInteger),
)


def upgrade() -> None:
    """Open the system accounts, empty."""
    op.bulk_insert(
        accounts,
        [
            {
                "id": f"{kind}:{owner}",
                "kind": kind,
                "owner": owner,
                "side": side,
                "flags": flags,
                "debits_posted": 0,
                "credits_posted": 0,
                "debits_pending": 0,
                "credits_pending": 0,
            }
            for kind, owner, side, flags in SYSTEM_ACCOUNTS
        ],
    )


def downgrade() -> None:
    """Remove them (only possible while no transfer refers to them)."""
    ids = [f"{kind}:{owner}" for kind, owner, _, _ in SYSTEM_ACCOUNTS]
    op.execute(accounts.delete().where(accounts.c.id.in_(ids)))
