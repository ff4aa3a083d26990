"""The national insurance platform's client: each site's institution code, and every message
sent to the platform (stored before it is sent, so a lost answer can always be reversed).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

ID = sa.String(120)
AT = sa.DateTime(timezone=True)
CLAIMED = "infno IN ('2207', '2304') AND ref IS NOT NULL AND state IN ('sent', 'answered', 'lost')"


def upgrade() -> None:
    op.create_table(
        "nhsa_institutions",
        sa.Column("hospital_id", ID, primary_key=True),
        sa.Column("fixmedins_code", sa.String(30), nullable=False),
        sa.Column("fixmedins_name", sa.String(200), nullable=False),
        sa.Column("mdtrtarea_admvs", sa.String(6), nullable=False),
        sa.Column("updated_at", AT, nullable=False),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospitals.id"]),
        sa.UniqueConstraint("fixmedins_code"),
    )
    op.create_table(
        "nhsa_messages",
        sa.Column("msgid", sa.String(30), primary_key=True),
        sa.Column("hospital_id", ID, nullable=False),
        sa.Column("infno", sa.String(4), nullable=False),
        sa.Column("ref", sa.String(200)),
        sa.Column("opter", sa.String(30), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("answer", sa.Text),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("updated_at", AT),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospitals.id"]),
        sa.CheckConstraint(
            "state IN ('sent', 'answered', 'failed', 'lost', 'reversed', 'cancelled')",
            name="known_state",
        ),
    )
    op.create_index("ix_nhsa_messages_site", "nhsa_messages", ["hospital_id", "infno", "ref"])
    op.create_index("ix_nhsa_messages_state", "nhsa_messages", ["state", "created_at"])
    op.create_index(
        "uq_nhsa_messages_claim",
        "nhsa_messages",
        ["hospital_id", "infno", "ref"],
        unique=True,
        sqlite_where=sa.text(CLAIMED),
        postgresql_where=sa.text(CLAIMED),
    )


def downgrade() -> None:
    op.drop_table("nhsa_messages")
    op.drop_table("nhsa_institutions")
