"""Terminal kinds as a column: `terminals.kind` (kiosk, window or his).

Until now the API stored a terminal's kind as a prefix of its name (`his:billing-1`), and the bill
route checked that prefix. The upgrade moves the prefix into the new column and gives the name
back as the admin sent it. A row without a known prefix (one registered outside the API) becomes
a `kiosk`: it had exactly a kiosk's rights before (every kind but `his` had the same ones), so
nobody gains or loses a permission. The downgrade writes the prefix back.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CHECK = "known_kind"
KINDS = ("kiosk", "window", "his")  # frozen here: a migration must not follow later code changes
DEFAULT_KIND = "kiosk"


def split_name(name: str) -> tuple[str, str]:
    """(kind, name) of a name as the previous version stored it: `his:billing-1` is
    (`his`, `billing-1`); a name without a known prefix is a kiosk's, kept whole."""
    prefix, colon, rest = name.partition(":")
    if colon and prefix in KINDS and rest.strip():
        return prefix, rest
    return DEFAULT_KIND, name


def upgrade() -> None:
    """Add the column, fill it from the name prefixes, then require it."""
    with op.batch_alter_table("terminals") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, name FROM terminals")).all()
    for terminal_id, name in rows:
        kind, bare = split_name(name)
        bind.execute(
            sa.text("UPDATE terminals SET kind = :kind, name = :name WHERE id = :id"),
            {"kind": kind, "name": bare, "id": terminal_id},
        )
    with op.batch_alter_table("terminals") as batch:
        batch.alter_column("kind", existing_type=sa.String(16), nullable=False)
        batch.create_check_constraint(CHECK, "kind IN ('kiosk', 'window', 'his')")


def downgrade() -> None:
    """Put the kind back in front of the name (cut to the column's 80 characters)."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, name, kind FROM terminals")).all()
    for terminal_id, name, kind in rows:
        bind.execute(
            sa.text("UPDATE terminals SET name = :name WHERE id = :id"),
            {"name": f"{kind}:{name}"[:80], "id": terminal_id},
        )
    with op.batch_alter_table("terminals") as batch:
        batch.drop_constraint(CHECK, type_="check")
        batch.drop_column("kind")
