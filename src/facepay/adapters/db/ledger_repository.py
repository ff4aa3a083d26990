"""`LedgerRepository` on SQLAlchemy Core. Balances are written as deltas from what was loaded.

Bounded accounts (a person's personal account, wallet, arrears) are locked FOR UPDATE and their
row updated: their flag is checked against a balance no one else can change meanwhile.

Unbounded accounts (fund pools, hospital receivables and revenue, cash and bank clearing) are
shared by every payment of a region, and are never checked. Updating their row would make every
payment wait for the one before it to commit (an UPDATE holds the row until COMMIT), so a posting
inserts what it adds into `account_deltas` instead, and locks nothing of theirs. Their exact
totals are the row plus the sum of its deltas (`lock_accounts`, the `account_totals` view);
`roll_up` folds deltas into the rows, exactly once each (DELETE ... RETURNING).
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    RowMapping,
    Select,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from facepay.adapters.db.tables import account_deltas, accounts, posting_records, transfers
from facepay.ledger.accounts import Account, AccountFlags, AccountKind, Side
from facepay.ledger.transfers import PostingRecord, Transfer, TransferKind

TOTALS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")


# Built once: the hot path of every settlement reuses the compiled statement.
_ADD_TOTALS = (
    update(accounts)
    .where(accounts.c.id == bindparam("b_id"))
    .values({n: accounts.c[n] + bindparam(f"d_{n}") for n in TOTALS})
)
_ADD_DELTA = insert(account_deltas).values(
    account_id=bindparam("b_id"), **{n: bindparam(f"d_{n}") for n in TOTALS}
)
_LOCK_BOUNDED = (
    select(accounts)
    .where(accounts.c.id.in_(bindparam("ids", expanding=True)), accounts.c.flags != 0)
    .order_by(accounts.c.id)
    .with_for_update()
)
_PLAIN = select(accounts).where(accounts.c.id.in_(bindparam("ids", expanding=True)))
_SUMS = (
    select(account_deltas.c.account_id, *(func.sum(account_deltas.c[n]).label(n) for n in TOTALS))
    .where(account_deltas.c.account_id.in_(bindparam("ids", expanding=True)))
    .group_by(account_deltas.c.account_id)
    .subquery()
)
# Row and deltas in one statement, so one snapshot: a roll-up committing in between cannot make
# a delta count twice or not at all.
_EXACT = (
    select(
        *(c for c in accounts.c if c.name not in TOTALS),
        *((accounts.c[n] + func.coalesce(_SUMS.c[n], 0)).label(n) for n in TOTALS),
    )
    .select_from(accounts.outerjoin(_SUMS, _SUMS.c.account_id == accounts.c.id))
    .where(accounts.c.id.in_(bindparam("ids", expanding=True)))
)
ROLL_UP_BATCH = 10_000


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


def _totals(account: Account) -> tuple[int, ...]:
    return tuple(getattr(account, name) for name in TOTALS)


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
        # Bounded accounts locked in this transaction, as they stand now: no one else can
        # change them until it ends, so they are not read again.
        self._locked: dict[str, Account] = {}

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
        """The accounts with exact totals; the bounded ones locked (FOR UPDATE, in id order)."""
        return self._remember(self._load(ids, _EXACT))

    def load_for_posting(self, ids: Collection[str]) -> dict[str, Account]:
        """Bounded accounts locked with exact totals; unbounded ones as of their last roll-up,
        unlocked (a posting only adds to them)."""
        return self._remember(self._load(ids, _PLAIN))

    def _load(self, ids: Collection[str], others: Select[Any]) -> dict[str, Account]:
        """Lock the bounded accounts among `ids` not locked yet in this transaction, read the
        others with `others` (two statements at most; one when all are bounded)."""
        found = {i: copy.copy(self._locked[i]) for i in ids if i in self._locked}
        wanted = sorted(set(ids) - found.keys())
        if wanted:
            rows = self._conn.execute(_LOCK_BOUNDED, {"ids": wanted}).mappings()
            for row in rows:
                self._locked[row["id"]] = _account(row)
                found[row["id"]] = copy.copy(self._locked[row["id"]])
            if rest := [i for i in wanted if i not in found]:
                plain = self._conn.execute(others, {"ids": rest}).mappings()
                found.update({row["id"]: _account(row) for row in plain})
        return found

    def _remember(self, found: dict[str, Account]) -> dict[str, Account]:
        """What each account held as handed out: `save_balances` writes the difference."""
        for account in found.values():
            self._loaded[account.id] = _totals(account)
        return found

    def save_balances(self, accounts_: Iterable[Account]) -> None:
        """Add what changed since loading: to the (locked) row of a bounded account, as a delta
        row for an unbounded one. In id order, one executemany each."""
        rows: list[dict[str, Any]] = []
        deltas: list[dict[str, Any]] = []
        for account in sorted(accounts_, key=lambda a: a.id):
            now = _totals(account)
            before = self._loaded[account.id]
            if now != before:
                change = {f"d_{n}": a - b for n, a, b in zip(TOTALS, now, before, strict=True)}
                bounded = account.id in self._locked
                (rows if bounded else deltas).append({"b_id": account.id, **change})
                self._loaded[account.id] = now
                if bounded:
                    self._locked[account.id] = copy.copy(account)
        if rows:
            self._conn.execute(_ADD_TOTALS, rows)
        if deltas:
            self._conn.execute(_ADD_DELTA, deltas)

    def roll_up(self, *, batch: int = ROLL_UP_BATCH) -> int:
        """Fold up to `batch` of the oldest deltas into their accounts' rows; how many. Each
        delta is deleted and added in the same transaction, so each counts exactly once even
        with several callers at once (a row another caller deleted is not returned here)."""
        oldest = select(account_deltas.c.id).order_by(account_deltas.c.id).limit(batch)
        moved = self._conn.execute(
            delete(account_deltas)
            .where(account_deltas.c.id.in_(oldest.scalar_subquery()))
            .returning(account_deltas.c.account_id, *(account_deltas.c[n] for n in TOTALS))
        ).all()
        sums: dict[str, list[int]] = {}
        for account_id, *amounts in moved:
            total = sums.setdefault(account_id, [0, 0, 0, 0])
            for index, amount in enumerate(amounts):
                total[index] += int(amount)
        if sums:
            self._conn.execute(
                _ADD_TOTALS,
                [
                    {"b_id": a, **{f"d_{n}": v for n, v in zip(TOTALS, t, strict=True)}}
                    for a, t in sorted(sums.items())
                ],
            )
        return len(moved)

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
