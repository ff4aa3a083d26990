"""Transfers (immutable, stored) and the specs a caller sends to ask for them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum


class TransferKind(StrEnum):
    """TigerBeetle's transfer flags, one per transfer."""

    SINGLE = "single"  # posts at once
    PENDING = "pending"  # a hold: reserves the amount until posted, voided or expired
    POST_PENDING = "post_pending"  # settles a hold, possibly for a smaller amount
    VOID_PENDING = "void_pending"  # releases a hold (also how expiry is recorded)


@dataclass(frozen=True)
class TransferSpec:
    """One transfer asked for; use the class methods, which say what each kind needs."""

    kind: TransferKind
    code: str
    debit_account_id: str = ""
    credit_account_id: str = ""
    amount: int = 0
    pending_id: str | None = None
    timeout_seconds: int | None = None
    reverses_id: str | None = None

    @classmethod
    def transfer(cls, debit: str, credit: str, amount: int, code: str) -> TransferSpec:
        """Move `amount` fen from `debit` to `credit` now."""
        return cls(TransferKind.SINGLE, code, debit, credit, amount)

    @classmethod
    def hold(
        cls, debit: str, credit: str, amount: int, code: str, *, timeout_seconds: int | None
    ) -> TransferSpec:
        """Reserve `amount` fen; it voids itself after `timeout_seconds` (None: never)."""
        return cls(
            TransferKind.PENDING, code, debit, credit, amount, timeout_seconds=timeout_seconds
        )

    @classmethod
    def post(cls, pending_id: str, code: str, amount: int | None = None) -> TransferSpec:
        """Settle a hold for `amount` (None: the whole hold)."""
        return cls(TransferKind.POST_PENDING, code, amount=amount or 0, pending_id=pending_id)

    @classmethod
    def void(cls, pending_id: str, code: str) -> TransferSpec:
        """Release a hold."""
        return cls(TransferKind.VOID_PENDING, code, pending_id=pending_id)


@dataclass(frozen=True)
class Transfer:
    """A stored transfer. Never updated: corrections are new, reversing transfers."""

    id: str
    request_key: str
    batch_index: int
    kind: TransferKind
    code: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    created_at: datetime
    pending_id: str | None = None
    expires_at: datetime | None = None
    reverses_id: str | None = None


@dataclass(frozen=True)
class PostingRequest:
    """A linked batch of transfers under one idempotency key: all post, or none does."""

    key: str
    specs: tuple[TransferSpec, ...]

    def fingerprint(self) -> str:
        """A digest of the body, so that a replayed key can be told from a reused one."""
        body = json.dumps([asdict(spec) for spec in self.specs], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class PostingRecord:
    """What the ledger remembers of an applied request: its key and body fingerprint."""

    key: str
    fingerprint: str
    created_at: datetime


@dataclass(frozen=True)
class PostingResult:
    """The transfers a request created; `replayed` when they came from an earlier identical call."""

    key: str
    transfers: tuple[Transfer, ...]
    replayed: bool = False
