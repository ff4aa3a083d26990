"""What a reversed discharge released of a deposit: `inpatient_deposits.returned`.

A discharge settlement hands the surplus of the deposit back to its source (the released
holds). Its reversal used to hold every deposit again in full, so that settling the stay again
could release the same money a second time; now it holds again only what the discharge took,
and records the rest as returned. Existing rows returned nothing (0).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inpatient_deposits") as batch:
        batch.add_column(sa.Column("returned", sa.BigInteger, nullable=False, server_default="0"))
        batch.create_check_constraint(
            "returned_within", "returned >= 0 AND applied + returned <= amount"
        )


def downgrade() -> None:
    with op.batch_alter_table("inpatient_deposits") as batch:
        batch.drop_constraint("returned_within", type_="check")
        batch.drop_column("returned")
