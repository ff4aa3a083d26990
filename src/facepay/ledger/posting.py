"""Applying a posting request: validate everything on copies, then store it all or nothing."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta

from facepay.ledger.accounts import Account
from facepay.ledger.ports import LedgerRepository
from facepay.ledger.transfers import (
    PostingRecord,
    PostingRequest,
    PostingResult,
    Transfer,
    TransferKind,
    TransferSpec,
)
from facepay.shared.errors import Conflict, InvalidInput, NotFound
from facepay.shared.ids import new_id

MAX_BATCH = 64
MAX_CODE = 80
# 10^15 fen (10 trillion yuan) per transfer: far above any bill, far below a BIGINT column.
MAX_AMOUNT = 10**15


def post(*, repo: LedgerRepository, request: PostingRequest, now: datetime) -> PostingResult:
    """Apply a linked batch once per idempotency key; a failure stores nothing."""
    _validate_shape(request)
    record = repo.get_record(request.key)
    if record is not None:
        return _replay(repo, request, record)
    holds = _load_holds(repo, request, now)
    _check_reversals(repo, request)
    ids = {a for spec in request.specs for a in _accounts_of(spec, holds)}
    locked = repo.load_for_posting(ids)
    if missing := ids - locked.keys():
        raise NotFound(f"no such account: {', '.join(sorted(missing))}")
    # Work on copies so that a rejected batch leaves the loaded accounts untouched.
    work = {key: copy.copy(account) for key, account in locked.items()}
    transfers = [
        _apply(spec, index, request.key, work, holds, now)
        for index, spec in enumerate(request.specs)
    ]
    repo.add_posting(PostingRecord(request.key, request.fingerprint(), now), transfers)
    repo.save_balances(work.values())
    return PostingResult(request.key, tuple(transfers))


def _replay(
    repo: LedgerRepository, request: PostingRequest, record: PostingRecord
) -> PostingResult:
    if record.fingerprint != request.fingerprint():
        raise Conflict(f"idempotency key {request.key!r} was used with a different request")
    return PostingResult(request.key, tuple(repo.transfers_of(request.key)), replayed=True)


def _validate_shape(request: PostingRequest) -> None:
    if not request.key or len(request.key) > 200:
        raise InvalidInput("an idempotency key of 1 to 200 characters is required")
    if not 1 <= len(request.specs) <= MAX_BATCH:
        raise InvalidInput(f"a posting request holds 1 to {MAX_BATCH} transfers")
    for spec in request.specs:
        if not spec.code or len(spec.code) > MAX_CODE:
            raise InvalidInput(f"every transfer needs a code of 1 to {MAX_CODE} characters")
        if type(spec.amount) is not int or not 0 <= spec.amount <= MAX_AMOUNT:
            raise InvalidInput(f"amounts are integer fen from 0 to {MAX_AMOUNT}")
        if spec.kind in (TransferKind.SINGLE, TransferKind.PENDING):
            if spec.amount == 0:
                raise InvalidInput("a transfer moves a positive amount")
            if not spec.debit_account_id or spec.debit_account_id == spec.credit_account_id:
                raise InvalidInput("a transfer needs two different accounts")
        elif spec.pending_id is None:
            raise InvalidInput("posting or voiding a hold needs its pending_id")
        if spec.timeout_seconds is not None and (
            spec.kind is not TransferKind.PENDING or spec.timeout_seconds <= 0
        ):
            raise InvalidInput("only a hold has a timeout, and it is positive")
    pending_ids = [s.pending_id for s in request.specs if s.pending_id is not None]
    if len(pending_ids) != len(set(pending_ids)):
        raise Conflict("a hold can be resolved only once")


def _load_holds(
    repo: LedgerRepository, request: PostingRequest, now: datetime
) -> dict[str, Transfer]:
    holds: dict[str, Transfer] = {}
    for spec in request.specs:
        if spec.pending_id is None:
            continue
        hold = repo.get_transfer(spec.pending_id)
        if hold is None or hold.kind is not TransferKind.PENDING:
            raise NotFound(f"no such hold: {spec.pending_id}")
        if repo.resolution_of(hold.id) is not None:
            raise Conflict(f"hold {hold.id} is already resolved")
        expired = hold.expires_at is not None and hold.expires_at <= now
        if spec.kind is TransferKind.POST_PENDING:
            if expired:
                raise Conflict(f"hold {hold.id} has expired")
            if spec.amount > hold.amount:
                raise InvalidInput("a hold cannot be posted for more than it reserved")
        holds[hold.id] = hold
    return holds


def _check_reversals(repo: LedgerRepository, request: PostingRequest) -> None:
    targets = [s.reverses_id for s in request.specs if s.reverses_id is not None]
    if len(targets) != len(set(targets)):
        raise Conflict("a transfer can be reversed only once")
    for spec in request.specs:
        if spec.reverses_id is None:
            continue
        original = repo.get_transfer(spec.reverses_id)
        if original is None:
            raise NotFound(f"no such transfer: {spec.reverses_id}")
        if (
            spec.kind is not TransferKind.SINGLE
            or original.kind not in (TransferKind.SINGLE, TransferKind.POST_PENDING)
            or (spec.debit_account_id, spec.credit_account_id)
            != (original.credit_account_id, original.debit_account_id)
            or spec.amount != original.amount
        ):
            raise InvalidInput(f"not a reversal of transfer {original.id}")
        if repo.reversal_of(original.id) is not None:
            raise Conflict(f"transfer {original.id} is already reversed")


def _accounts_of(spec: TransferSpec, holds: dict[str, Transfer]) -> tuple[str, str]:
    if spec.pending_id is not None:
        hold = holds[spec.pending_id]
        return hold.debit_account_id, hold.credit_account_id
    return spec.debit_account_id, spec.credit_account_id


@dataclass(frozen=True)
class _Move:
    posted: int
    pending: int  # negative when a hold is released


def _apply(  # noqa: PLR0917 - a private step of post(), called once
    spec: TransferSpec,
    index: int,
    key: str,
    work: dict[str, Account],
    holds: dict[str, Transfer],
    now: datetime,
) -> Transfer:
    debit_id, credit_id = _accounts_of(spec, holds)
    hold = holds.get(spec.pending_id) if spec.pending_id else None
    if spec.kind is TransferKind.SINGLE:
        amount, move = spec.amount, _Move(spec.amount, 0)
    elif spec.kind is TransferKind.PENDING:
        amount, move = spec.amount, _Move(0, spec.amount)
    elif spec.kind is TransferKind.POST_PENDING:
        assert hold is not None
        amount = spec.amount or hold.amount
        move = _Move(amount, -hold.amount)
    else:
        assert hold is not None
        amount, move = hold.amount, _Move(0, -hold.amount)
    debit, credit = work[debit_id], work[credit_id]
    debit.debits_posted += move.posted
    debit.debits_pending += move.pending
    credit.credits_posted += move.posted
    credit.credits_pending += move.pending
    # Checked after each transfer, as TigerBeetle does: a later credit cannot cover an overdraft.
    debit.check()
    credit.check()
    expires = (
        now + timedelta(seconds=spec.timeout_seconds) if spec.timeout_seconds is not None else None
    )
    return Transfer(
        id=new_id("tr"),
        request_key=key,
        batch_index=index,
        kind=spec.kind,
        code=spec.code,
        debit_account_id=debit_id,
        credit_account_id=credit_id,
        amount=amount,
        created_at=now,
        pending_id=spec.pending_id,
        expires_at=expires,
        reverses_id=spec.reverses_id,
    )
