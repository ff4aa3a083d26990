"""Books per hospital: each hospital's own revenue account and, per fund, its own receivable;
`settlements.hospital_id` says whose books a settlement went to.

Until now one `hospital_revenue:hospital` account took every hospital's revenue and the
receivables were kept per fund only (`hospital_receivable:hifp`, ...). The upgrade opens the
accounts of every hospital, finds the hospital of every settlement it can (the bill that points
to it, the payment and refund entries of the audit log, the `<hospital>:` prefix the API puts on
idempotency keys), and moves that settlement's transfers, and those of its reversal, from the
shared accounts to that hospital's, adjusting the running totals by exactly the amounts moved.
This re-points the transfers rather than posting reclassifications, so that a refund of an old
payment after the upgrade reverses it on the hospital's own accounts. Settlements it cannot
attribute (made outside the API, by scripts) stay on the shared accounts, which are kept.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FUNDS = ("hifp", "hifmi", "maf")
SHARED_REVENUE = "hospital_revenue:hospital"
# Frozen here: a migration must not follow later code changes.


def _own(hospital: str) -> dict[str, str]:
    """Shared account id -> the hospital's own account id."""
    moved = {SHARED_REVENUE: f"hospital_revenue:{hospital}"}
    moved |= {f"hospital_receivable:{f}": f"hospital_receivable:{hospital}/{f}" for f in FUNDS}
    return moved


def upgrade() -> None:
    """Open every hospital's accounts and move its settlements' transfers onto them."""
    with op.batch_alter_table("settlements") as batch:
        batch.add_column(sa.Column("hospital_id", sa.String(120), nullable=True))
        batch.create_index("ix_settlements_hospital_id", ["hospital_id"])
    bind = op.get_bind()
    hospitals = set(bind.execute(sa.text("SELECT id FROM hospitals")).scalars())
    for hospital in sorted(hospitals):
        _open(bind, hospital)
    owners = _owners(bind, hospitals)
    for settlement_id, hospital in owners.items():
        bind.execute(
            sa.text("UPDATE settlements SET hospital_id = :h WHERE id = :s"),
            {"h": hospital, "s": settlement_id},
        )
    keys = _request_keys(bind, owners)
    _move(bind, ((key, _own(hospital)) for key, hospital in keys))


def downgrade() -> None:
    """Put every hospital's transfers back on the shared accounts and close its accounts."""
    bind = op.get_bind()
    hospitals = sorted(bind.execute(sa.text("SELECT id FROM hospitals")).scalars())
    back: dict[str, str] = {}
    for hospital in hospitals:
        back |= {own: shared for shared, own in _own(hospital).items()}
    keys = bind.execute(
        sa.text(
            "SELECT DISTINCT request_key FROM transfers"
            " WHERE debit_account_id IN :ids OR credit_account_id IN :ids"
        ).bindparams(sa.bindparam("ids", expanding=True)),
        {"ids": sorted(back) or ["-"]},
    ).scalars()
    _move(bind, ((key, back) for key in list(keys)))
    if back:
        bind.execute(
            sa.text("DELETE FROM accounts WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": sorted(back)},
        )
    with op.batch_alter_table("settlements") as batch:
        batch.drop_index("ix_settlements_hospital_id")
        batch.drop_column("hospital_id")


def _open(bind: Connection, hospital: str) -> None:
    for own in _own(hospital).values():
        exists = bind.execute(sa.text("SELECT 1 FROM accounts WHERE id = :i"), {"i": own}).first()
        if exists is None:
            kind, owner = own.split(":", 1)
            bind.execute(
                sa.text(
                    "INSERT INTO accounts (id, kind, owner, side, flags, debits_posted,"
                    " credits_posted, debits_pending, credits_pending)"
                    " VALUES (:id, :kind, :owner, 'credit', 0, 0, 0, 0, 0)"
                ),
                {"id": own, "kind": kind, "owner": owner},
            )


def _owners(bind: Connection, hospitals: set[str]) -> dict[str, str]:
    """Settlement id -> hospital, from bills, audit entries and API key prefixes."""
    owners: dict[str, str] = {}
    for settlement_id, key in bind.execute(sa.text("SELECT id, idempotency_key FROM settlements")):
        prefix = key.split(":", 1)[0]
        if prefix in hospitals:
            owners[settlement_id] = prefix
    query = "SELECT details FROM audit_log WHERE action IN ('payment.settle', 'payment.refund')"
    for (details,) in bind.execute(sa.text(query)):
        found = json.loads(details)
        hospital = found.get("hospital")
        if hospital in hospitals:
            for name in ("settlement", "resettlement"):
                if isinstance(found.get(name), str):
                    owners[found[name]] = hospital
    rows = bind.execute(
        sa.text("SELECT settlement_id, hospital_id FROM bills WHERE settlement_id IS NOT NULL")
    )
    owners.update(dict(rows.all()))
    return owners


def _request_keys(bind: Connection, owners: dict[str, str]) -> list[tuple[str, str]]:
    """(request key, hospital) of every posting and reversal of the attributed settlements."""
    found: list[tuple[str, str]] = []
    rows = bind.execute(sa.text("SELECT id, posting_key, reversal_key FROM settlements"))
    for settlement_id, posting_key, reversal_key in rows:
        hospital = owners.get(settlement_id)
        if hospital is None:
            continue
        if posting_key:
            found.append((posting_key, hospital))
        if reversal_key:
            found.append((f"reverse:{reversal_key}", hospital))
    return found


def _move(bind: Connection, work: Iterable[tuple[str, dict[str, str]]]) -> None:
    """Re-point the single transfers of each request key by `mapping`; keep totals exact."""
    delta: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # account -> [debits, credits]
    for key, mapping in work:
        rows = bind.execute(
            sa.text(
                "SELECT id, debit_account_id, credit_account_id, amount FROM transfers"
                " WHERE request_key = :k AND kind = 'single'"
            ),
            {"k": key},
        )
        for transfer_id, debit, credit, amount in rows.all():
            new_debit, new_credit = mapping.get(debit, debit), mapping.get(credit, credit)
            if (new_debit, new_credit) == (debit, credit):
                continue
            bind.execute(
                sa.text(
                    "UPDATE transfers SET debit_account_id = :d, credit_account_id = :c"
                    " WHERE id = :i"
                ),
                {"d": new_debit, "c": new_credit, "i": transfer_id},
            )
            delta[debit][0] -= amount
            delta[new_debit][0] += amount
            delta[credit][1] -= amount
            delta[new_credit][1] += amount
    for account, (debits, credits) in sorted(delta.items()):
        if debits or credits:
            bind.execute(
                sa.text(
                    "UPDATE accounts SET debits_posted = debits_posted + :d,"
                    " credits_posted = credits_posted + :c WHERE id = :i"
                ),
                {"d": debits, "c": credits, "i": account},
            )
