"""An in-memory `LedgerRepository`: the fake for unit tests and the reference for the port."""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from facepay.ledger.accounts import Account
from facepay.ledger.transfers import PostingRecord, Transfer, TransferKind
from facepay.shared.errors import Conflict


class InMemoryLedgerRepository:
    """Keeps everything in dicts; single-threaded, no transactions (the ledger needs none)."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.records: dict[str, PostingRecord] = {}
        self.transfers: dict[str, Transfer] = {}
        self._by_key: dict[str, list[Transfer]] = {}
        self._resolutions: dict[str, Transfer] = {}
        self._reversals: dict[str, Transfer] = {}

    def add_account(self, account: Account) -> None:
        """Store a new account."""
        if account.id in self.accounts:
            raise Conflict(f"account {account.id} exists")
        self.accounts[account.id] = copy.copy(account)

    def lock_accounts(self, ids: Collection[str]) -> dict[str, Account]:
        """Copies of the accounts that exist among `ids`."""
        return {i: copy.copy(self.accounts[i]) for i in ids if i in self.accounts}

    def load_for_posting(self, ids: Collection[str]) -> dict[str, Account]:
        """The same as `lock_accounts`: memory has no hot rows."""
        return self.lock_accounts(ids)

    def roll_up(self, *, batch: int) -> int:
        """Nothing is kept apart in memory."""
        return 0

    def save_balances(self, accounts: Iterable[Account]) -> None:
        """Write the totals back."""
        for account in accounts:
            self.accounts[account.id] = copy.copy(account)

    def get_record(self, key: str) -> PostingRecord | None:
        """The applied request `key`."""
        return self.records.get(key)

    def add_posting(self, record: PostingRecord, transfers: Sequence[Transfer]) -> None:
        """Store the request and its transfers, enforcing the unique keys a database would."""
        if record.key in self.records:
            raise Conflict(f"duplicate key {record.key}")
        for t in transfers:
            if t.pending_id is not None and t.pending_id in self._resolutions:
                raise Conflict(f"hold {t.pending_id} resolved twice")
            if t.reverses_id is not None and t.reverses_id in self._reversals:
                raise Conflict(f"transfer {t.reverses_id} reversed twice")
        self.records[record.key] = record
        self._by_key[record.key] = list(transfers)
        for t in transfers:
            self.transfers[t.id] = t
            if t.pending_id is not None:
                self._resolutions[t.pending_id] = t
            if t.reverses_id is not None:
                self._reversals[t.reverses_id] = t

    def transfers_of(self, key: str) -> list[Transfer]:
        """The transfers of request `key`."""
        return list(self._by_key.get(key, []))

    def get_transfer(self, transfer_id: str) -> Transfer | None:
        """One transfer."""
        return self.transfers.get(transfer_id)

    def resolution_of(self, pending_id: str) -> Transfer | None:
        """What resolved the hold."""
        return self._resolutions.get(pending_id)

    def reversal_of(self, transfer_id: str) -> Transfer | None:
        """What reversed the transfer."""
        return self._reversals.get(transfer_id)

    def expired_holds(self, now: datetime) -> list[Transfer]:
        """Unresolved holds past expiry."""
        return [
            t
            for t in self.transfers.values()
            if t.kind is TransferKind.PENDING
            and t.expires_at is not None
            and t.expires_at <= now
            and t.id not in self._resolutions
        ]
