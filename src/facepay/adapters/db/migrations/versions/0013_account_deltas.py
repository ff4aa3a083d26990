"""Hot accounts without a hot row: `account_deltas` takes what postings add to unbounded
accounts (fund pools, hospital receivables and revenue, cash and bank clearing, terminal
suspense), so that concurrent payments no longer queue on those shared rows. An account's exact
totals are its row plus the sum of its deltas; the upkeep folds the deltas into the rows. The view
`account_totals` shows the exact totals of every account, for reports and checks by hand.

Downgrade folds every delta back into its row first, so no amount is lost.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TOTALS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
VIEW = """
CREATE VIEW account_totals AS
SELECT a.id, a.kind, a.owner, a.side, a.flags,
       a.debits_posted + coalesce(d.debits_posted, 0) AS debits_posted,
       a.credits_posted + coalesce(d.credits_posted, 0) AS credits_posted,
       a.debits_pending + coalesce(d.debits_pending, 0) AS debits_pending,
       a.credits_pending + coalesce(d.credits_pending, 0) AS credits_pending
FROM accounts a
LEFT JOIN (
    SELECT account_id, sum(debits_posted) AS debits_posted, sum(credits_posted) AS credits_posted,
           sum(debits_pending) AS debits_pending, sum(credits_pending) AS credits_pending
    FROM account_deltas GROUP BY account_id
) d ON d.account_id = a.id
"""


def upgrade() -> None:
    op.create_table(
        "account_deltas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("account_id", sa.String(120), nullable=False),
        *(sa.Column(n, sa.BigInteger, nullable=False) for n in TOTALS),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0", name="posted_not_negative"
        ),
    )
    op.create_index("ix_account_deltas_account_id", "account_deltas", ["account_id"])
    op.execute(VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW account_totals")
    for n in TOTALS:
        op.execute(
            f"UPDATE accounts SET {n} = {n} + coalesce((SELECT sum(d.{n}) FROM account_deltas d"  # noqa: S608 - a constant
            " WHERE d.account_id = accounts.id), 0)"
        )
    op.drop_index("ix_account_deltas_account_id", table_name="account_deltas")
    op.drop_table("account_deltas")
