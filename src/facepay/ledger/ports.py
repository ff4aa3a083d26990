"""The ledger's storage port. Implementations: `InMemoryLedgerRepository` (ledger.memory) and
`SqlAlchemyLedgerRepository` (adapters.db). Repositories never commit; the unit of work does.

Concurrency contract: `lock_accounts` must serialise writers on those accounts until the
transaction ends (PostgreSQL: SELECT ... FOR UPDATE in id order; SQLite: BEGIN IMMEDIATE), so
that balances read through it can be written back as absolute values.
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
        """Load and lock the accounts that exist among `ids`, keyed by id."""

    def save_balances(self, accounts: Iterable[Account]) -> None:
        """Write back the totals of accounts obtained from `lock_accounts`."""

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
