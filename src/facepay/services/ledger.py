"""Ledger use cases: open a person's accounts, post transfers, top up, expire holds."""

from __future__ import annotations

from facepay.ledger.accounts import Account, AccountKind, account_id
from facepay.ledger.corrections import expire_holds
from facepay.ledger.posting import post
from facepay.ledger.transfers import PostingRequest, PostingResult, TransferSpec
from facepay.services.ports import UnitOfWork
from facepay.shared.clock import Clock, SystemClock

PERSON_KINDS = (AccountKind.PERSONAL_ACCOUNT, AccountKind.PATIENT_WALLET, AccountKind.ARREARS)


def open_accounts(*, uow: UnitOfWork, accounts: list[tuple[AccountKind, str]]) -> list[str]:
    """Open the accounts (kind, owner) that do not exist yet; returns all their ids."""
    with uow:
        opened = open_accounts_in(uow, accounts)
        uow.commit()
    return opened


def open_accounts_in(uow: UnitOfWork, accounts: list[tuple[AccountKind, str]]) -> list[str]:
    """`open_accounts` inside a unit of work the caller opened and commits."""
    wanted = {account_id(kind, owner): (kind, owner) for kind, owner in accounts}
    existing = uow.ledger.lock_accounts(wanted)
    for ident, (kind, owner) in wanted.items():
        if ident not in existing:
            uow.ledger.add_account(Account.open(kind, owner))
    return sorted(wanted)


def open_person_accounts(*, uow: UnitOfWork, person_id: str) -> list[str]:
    """Open the personal account, wallet and arrears account of a person (those missing)."""
    return open_accounts(uow=uow, accounts=person_accounts(person_id))


def person_accounts(person_id: str) -> list[tuple[AccountKind, str]]:
    """The (kind, owner) of every account a person holds."""
    return [(kind, person_id) for kind in PERSON_KINDS]


def post_transfers(
    *, uow: UnitOfWork, request: PostingRequest, clock: Clock | None = None
) -> PostingResult:
    """Post a linked batch of transfers once per idempotency key, all or nothing."""
    # Two first calls with one key can race past the key check; the loser gets StorageBusy
    # from the unique key and nothing stored, and its retry replays the winner's result.
    with uow:
        result = post(repo=uow.ledger, request=request, now=(clock or SystemClock()).now())
        if not result.replayed:
            uow.commit()
    return result


def credit_personal_account(
    *,
    uow: UnitOfWork,
    person_id: str,
    amount: int,
    idempotency_key: str,
    clock: Clock | None = None,
) -> PostingResult:
    """Allocate `amount` fen from the fund to a person's personal account (个人账户划入)."""
    request = personal_account_credit(person_id, amount, idempotency_key)
    return post_transfers(uow=uow, request=request, clock=clock)


def personal_account_credit(person_id: str, amount: int, idempotency_key: str) -> PostingRequest:
    """The posting that allocates `amount` fen from the fund to a person's personal account."""
    spec = TransferSpec.transfer(
        account_id(AccountKind.FUND_POOL, "acct"),
        account_id(AccountKind.PERSONAL_ACCOUNT, person_id),
        amount,
        "allocate.acct",
    )
    return PostingRequest(idempotency_key, (spec,))


ROLL_UP_BATCH = 10_000


def roll_up_balances(*, uow: UnitOfWork, batches: int = 10) -> int:
    """Fold what payments added to the shared, unbounded accounts into their rows, at most
    `batches` transactions of ROLL_UP_BATCH each (short, so no payment waits long); returns how
    many additions were folded. Balances read before and after are the same."""
    folded = 0
    for _ in range(batches):
        with uow:
            moved = uow.ledger.roll_up(batch=ROLL_UP_BATCH)
            uow.commit()
        folded += moved
        if moved < ROLL_UP_BATCH:
            break
    return folded


def expire_due_holds(*, uow: UnitOfWork, clock: Clock | None = None) -> int:
    """Void every hold past its expiry; returns how many were voided."""
    with uow:
        voided = expire_holds(repo=uow.ledger, now=(clock or SystemClock()).now())
        uow.commit()
    return len(voided)


def person_balances(*, uow: UnitOfWork, person_id: str) -> dict[AccountKind, int]:
    """Balances of a person's accounts that exist (personal account, wallet, arrears), in fen."""
    ids = [account_id(kind, person_id) for kind in PERSON_KINDS]
    with uow:
        found = uow.ledger.lock_accounts(ids)
    return {account.kind: account.balance for account in found.values()}
