"""Corrections without mutation: reversing an applied request, voiding holds past expiry."""

from __future__ import annotations

from datetime import datetime

from facepay.ledger.ports import LedgerRepository
from facepay.ledger.posting import MAX_CODE, post
from facepay.ledger.transfers import PostingRequest, PostingResult, TransferKind, TransferSpec
from facepay.shared.errors import InvalidInput, NotFound


def reversal_of_request(*, repo: LedgerRepository, original_key: str, key: str) -> PostingRequest:
    """The request that reverses every posted transfer of `original_key`, as one linked batch."""
    originals = repo.transfers_of(original_key)
    if not originals:
        raise NotFound(f"no posting with key {original_key!r}")
    if any(t.kind in (TransferKind.PENDING, TransferKind.VOID_PENDING) for t in originals):
        raise InvalidInput("holds are voided, not reversed")
    specs = tuple(
        TransferSpec(
            TransferKind.SINGLE,
            # The original code, kept short enough that a reversal can itself be reversed.
            f"reversal:{t.code}"[:MAX_CODE],
            t.credit_account_id,
            t.debit_account_id,
            t.amount,
            reverses_id=t.id,
        )
        # Reversed newest first, so that a chain of transfers unwinds the way it was built.
        for t in reversed(originals)
    )
    return PostingRequest(key, specs)


def reverse(*, repo: LedgerRepository, original_key: str, key: str, now: datetime) -> PostingResult:
    """Reverse the request `original_key` under the new idempotency key `key`."""
    # The body is rebuilt from the stored original, so a replay matches its fingerprint.
    request = reversal_of_request(repo=repo, original_key=original_key, key=key)
    return post(repo=repo, request=request, now=now)


def expire_holds(*, repo: LedgerRepository, now: datetime) -> list[PostingResult]:
    """Void every unresolved hold whose expiry has passed; safe to run any number of times."""
    return [
        post(
            repo=repo,
            request=PostingRequest(f"expire:{hold.id}", (TransferSpec.void(hold.id, "expired"),)),
            now=now,
        )
        for hold in repo.expired_holds(now)
    ]
