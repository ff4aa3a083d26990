"""The ledger's storage port. Implementations: `InMemoryLedgerRepository` (ledger.memory) and
`SqlAlchemyLedgerRepository` (adapters.db). Repositories never commit; the unit of work does.

Concurrency contract: `lock_accounts` and `load_for_posting` must serialise writers on the
bounded accounts (those with a balance flag) until the transaction ends (PostgreSQL: SELECT ...
FOR UPDATE in id order; SQLite: BEGIN IMMEDIATE), so that a flag is checked against a balance
no one else can change. Unbounded accounts (fund pools, receivables, revenue, clearing) are never
checked, so they need no lock: `save_balances` only adds to them what changed, and the database
implementation does so without touching their row (docs/ledger.md, "Hot accounts").
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from facepay.ledger.accounts import Account
from facepay.ledger.transfers import PostingRecord, Transfer


class LedgerRepository(Protocol):
    """Accounts, transfers and applied request keys."""

    def add_account(self, account: Account) -> None:
        """Store a new account (its id must be unused)."""

    def lock_accounts(self, ids: Collection[str]) -> dict[str, Account]:
        """Load the accounts that exist among `ids` with their exact totals, keyed by id,
        locking the bounded ones."""

    def load_for_posting(self, ids: Collection[str]) -> dict[str, Account]:
        """`lock_accounts` for a posting: bounded accounts locked with exact totals; unbounded
        ones may carry older totals (a posting only adds to them, through `save_balances`)."""

    def save_balances(self, accounts: Iterable[Account]) -> None:
        """Add to each account what changed since `lock_accounts`/`load_for_posting` loaded it."""

    def roll_up(self, *, batch: int) -> int:
        """Fold up to `batch` of the additions kept apart from unbounded accounts into their
        stored totals (0 where there are none); totals read through `lock_accounts` do not
        change."""

    def get_record(self, key: str) -> PostingRecord | None:
        """The applied request with this idempotency key, if any."""

    def add_posting(self, record: PostingRecord, transfers: Sequence[Transfer]) -> None:
        """Store an applied request and the transfers it created."""

    def transfers_of(self, key: str) -> list[Transfer]:
        """The transfers created by the request `key`, in batch order."""

    def get_transfer(self, transfer_id: str) -> Transfer | None:
        """One transfer by id."""

    def resolution_of(self, pending_id: str) -> Transfer | None:
        """The post or void that resolved the hold `pending_id`, if any."""

    def reversal_of(self, transfer_id: str) -> Transfer | None:
        """The transfer that reversed `transfer_id`, if any."""

    def expired_holds(self, now: datetime) -> list[Transfer]:
        """Unresolved holds whose expiry is at or before `now`."""
