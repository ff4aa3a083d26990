"""`LedgerRepository` on SQLAlchemy Core. Balances are written as deltas from what was loaded, so
only bounded accounts need a row lock; hot unbounded accounts (fund pools, hospital revenue) are
updated in place by `col = col + delta` and stay consistent under concurrent writers."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, insert, select, update

from facepay.adapters.db.tables import accounts, posting_records, transfers
from facepay.ledger.accounts import Account, AccountFlags, AccountKind, Side
from facepay.ledger.transfers import PostingRecord, Transfer, TransferKind

TOTALS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")


# Built once: the hot path of every settlement reuses the compiled statement.
_ADD_TOTALS = (
    update(accounts)
    .where(accounts.c.id == bindparam("b_id"))
    .values({n: accounts.c[n] + bindparam(f"d_{n}") for n in TOTALS})
)


def utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _account(row: RowMapping) -> Account:
    return Account(
        id=row["id"],
        kind=AccountKind(row["kind"]),
        owner=row["owner"],
        side=Side(row["side"]),
        flags=AccountFlags(row["flags"]),
        **{name: row[name] for name in TOTALS},
    )


def _transfer(row: RowMapping) -> Transfer:
    return Transfer(
        id=row["id"],
        request_key=row["request_key"],
        batch_index=row["batch_index"],
        kind=TransferKind(row["kind"]),
        code=row["code"],
        debit_account_id=row["debit_account_id"],
        credit_account_id=row["credit_account_id"],
        amount=row["amount"],
        created_at=utc(row["created_at"]),
        pending_id=row["pending_id"],
        expires_at=utc(row["expires_at"]) if row["expires_at"] is not None else None,
        reverses_id=row["reverses_id"],
    )


class SqlAlchemyLedgerRepository:
    """Ledger rows on one open connection; the unit of work owns the transaction."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        self._loaded: dict[str, tuple[int, ...]] = {}

    def add_account(self, account: Account) -> None:
        """Insert a new account."""
        row: dict[str, Any] = {
            "id": account.id,
            "kind": account.kind.value,
            "owner": account.owner,
            "side": account.side.value,
            "flags": account.flags.value,
        }
        row.update({name: getattr(account, name) for name in TOTALS})
        self._conn.execute(insert(accounts).values(row))

    def lock_accounts(self, ids: Collection[str]) -> dict[str, Account]:
        """Read the accounts; lock the bounded ones (FOR UPDATE, in id order against deadlock)."""
        ordered = sorted(ids)
        rows = self._conn.execute(select(accounts).where(accounts.c.id.in_(ordered))).mappings()
        found = {row["id"]: _account(row) for row in rows}
        bounded = [i for i, a in found.items() if a.flags is not AccountFlags.NONE]
        if bounded:
            query = (
                select(accounts)
                .where(accounts.c.id.in_(sorted(bounded)))
                .order_by(accounts.c.id)
                .with_for_update()
            )
            found.update({r["id"]: _account(r) for r in self._conn.execute(query).mappings()})
        for account in found.values():
            self._loaded[account.id] = tuple(getattr(account, name) for name in TOTALS)
        return found

    def save_balances(self, accounts_: Iterable[Account]) -> None:
        """Add to each row what changed since it was loaded (one executemany, in id order)."""
        rows = []
        for account in sorted(accounts_, key=lambda a: a.id):
            now = tuple(getattr(account, name) for name in TOTALS)
            before = self._loaded[account.id]
            if now != before:
                deltas = {f"d_{n}": a - b for n, a, b in zip(TOTALS, now, before, strict=True)}
                rows.append({"b_id": account.id, **deltas})
                self._loaded[account.id] = now
        if rows:
            self._conn.execute(_ADD_TOTALS, rows)

    def get_record(self, key: str) -> PostingRecord | None:
        """The applied request `key`."""
        row = (
            self._conn.execute(select(posting_records).where(posting_records.c.key == key))
            .mappings()
            .first()
        )
        if row is None:
            return None
        return PostingRecord(row["key"], row["fingerprint"], utc(row["created_at"]))

    def add_posting(self, record: PostingRecord, transfers_: Sequence[Transfer]) -> None:
        """Insert the request and its transfers."""
        self._conn.execute(
            insert(posting_records).values(
                key=record.key, fingerprint=record.fingerprint, created_at=record.created_at
            )
        )
        if transfers_:
            self._conn.execute(
                insert(transfers),
                [
                    {
                        "id": t.id,
                        "request_key": t.request_key,
                        "batch_index": t.batch_index,
                        "kind": t.kind.value,
                        "code": t.code,
                        "debit_account_id": t.debit_account_id,
                        "credit_account_id": t.credit_account_id,
                        "amount": t.amount,
                        "created_at": t.created_at,
                        "pending_id": t.pending_id,
                        "expires_at": t.expires_at,
                        "reverses_id": t.reverses_id,
                    }
                    for t in transfers_
                ],
            )

    def transfers_of(self, key: str) -> list[Transfer]:
        """The transfers of request `key`, in batch order."""
        query = (
            select(transfers)
            .where(transfers.c.request_key == key)
            .order_by(transfers.c.batch_index)
        )
        return [_transfer(row) for row in self._conn.execute(query).mappings()]

    def get_transfer(self, transfer_id: str) -> Transfer | None:
        """One transfer by id."""
        return self._one(transfers.c.id == transfer_id)

    def resolution_of(self, pending_id: str) -> Transfer | None:
        """The post or void of the hold."""
        return self._one(transfers.c.pending_id == pending_id)

    def reversal_of(self, transfer_id: str) -> Transfer | None:
        """The reversal of the transfer."""
        return self._one(transfers.c.reverses_id == transfer_id)

    def expired_holds(self, now: datetime) -> list[Transfer]:
        """Unresolved holds past expiry, oldest first."""
        resolution = transfers.alias("resolution")
        query = (
            select(transfers)
            .outerjoin(resolution, resolution.c.pending_id == transfers.c.id)
            .where(
                transfers.c.kind == TransferKind.PENDING.value,
                transfers.c.expires_at <= now,
                resolution.c.id.is_(None),
            )
            .order_by(transfers.c.expires_at, transfers.c.id)
        )
        return [_transfer(row) for row in self._conn.execute(query).mappings()]

    def _one(self, condition: Any) -> Transfer | None:
        row = self._conn.execute(select(transfers).where(condition)).mappings().first()
        return _transfer(row) if row is not None else None
