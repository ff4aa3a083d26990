"""What a patient owes the site (arrears) and is owed (refund due), settled at the window.

Offline payment leaves both (facepay.services.offline_settlement): `arrears:<person>` when the
authoritative cash part was larger than what the terminal collected, `refund_due:<person>` when
it was smaller. A discharge leaves arrears too (its shortfall), and an emergency record merged
into a person moves its charges there until the merged bill is paid.

- A **repayment** (the patient pays at the window): debit `cash_clearing:<method>`, credit
  `arrears:<person>`.
- A **payout** (the window pays the patient): debit `refund_due:<person>`, credit
  `cash_clearing:<method>`.

Each is one ledger posting under `arrears.repay:<site>:<key>` / `refund_due.payout:<site>:<key>`
with its audit entry in the same transaction. The person's account is locked before anything is
read, so two repayments at once are decided one after the other and never take more than is
owed; the bounds of the accounts (an arrears account never credited beyond its debits, a refund
due never debited beyond its credits) refuse it again should this check ever be bypassed.

Arrears of a merged emergency record are paid with its bill, whose payment clears them
(facepay.services.emergency_arrears.settle_paid_bill): taking them at the window as well would
collect them twice, so they are not repayable here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from facepay.hospital.offline import OfflineVoucherRecord
from facepay.ledger.accounts import Account, AccountKind, account_id
from facepay.ledger.posting import post
from facepay.ledger.transfers import PostingRequest, TransferSpec
from facepay.services.context import Services
from facepay.services.ledger import open_accounts_in
from facepay.services.lookups import is_patient_of
from facepay.services.ports import UnitOfWork
from facepay.services.support import audit, require_hospital
from facepay.shared.errors import Conflict, InvalidInput, NotFound

Method = Literal["cash", "bank"]
Direction = Literal["repayment", "payout"]
METHODS: tuple[Method, ...] = ("cash", "bank")
REPAY_ACTION = "arrears.repayment"
PAYOUT_ACTION = "refund_due.payout"
MAX_KEY = 120
MAX_VOUCHERS = 50
"""The newest vouchers a balance read lists (the amounts are the accounts', never summed)."""


@dataclass(frozen=True)
class Movement:
    """A repayment or payout as posted: how much, how, and what is left afterwards."""

    id: str
    """The ledger transfer's id."""
    direction: Direction
    person_id: str
    method: Method
    amount_fen: int
    remaining_fen: int
    """Arrears still repayable after a repayment; refund still due after a payout."""
    at: datetime
    replayed: bool = False


@dataclass(frozen=True)
class Balances:
    """What a person owes and is owed, in fen, and the site's offline vouchers that made it."""

    person_id: str
    arrears_fen: int
    """Everything the arrears account holds."""
    repayable_fen: int
    """What can be repaid at the window: the arrears less those of merged emergency records,
    which their bills pay."""
    refund_due_fen: int
    vouchers: tuple[OfflineVoucherRecord, ...]


@dataclass(frozen=True)
class _Kind:
    direction: Direction
    action: str
    key_prefix: str
    """Of the posting's key, and the transfer's code."""


_REPAY = _Kind("repayment", REPAY_ACTION, "arrears.repay")
_PAYOUT = _Kind("payout", PAYOUT_ACTION, "refund_due.payout")


def repay_arrears(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    person_id: str,
    amount_fen: int,
    method: Method,
    idempotency_key: str,
) -> Movement:
    """The patient pays `amount_fen` of their arrears at the window, once per key."""
    return _move(
        ctx,
        _REPAY,
        hospital_id=hospital_id,
        actor=actor,
        person_id=person_id,
        amount_fen=amount_fen,
        method=method,
        idempotency_key=idempotency_key,
    )


def pay_out_refund_due(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    person_id: str,
    amount_fen: int,
    method: Method,
    idempotency_key: str,
) -> Movement:
    """The window pays the patient `amount_fen` of the refund due to them, once per key."""
    return _move(
        ctx,
        _PAYOUT,
        hospital_id=hospital_id,
        actor=actor,
        person_id=person_id,
        amount_fen=amount_fen,
        method=method,
        idempotency_key=idempotency_key,
    )


def patient_balances(*, ctx: Services, hospital_id: str, person_id: str) -> Balances:
    """What one of this site's patients owes and is owed (NotFound for anyone else)."""
    with ctx.uow() as uow:
        _require_patient(uow, hospital_id, person_id)
        found = uow.ledger.lock_accounts([_arrears(person_id), _refund_due(person_id)])
        arrears = _balance(found.get(_arrears(person_id)))
        vouchers = uow.offline.differences_of(hospital_id, person_id, limit=MAX_VOUCHERS)
        return Balances(
            person_id=person_id,
            arrears_fen=arrears,
            repayable_fen=_repayable(uow, person_id, arrears),
            refund_due_fen=_balance(found.get(_refund_due(person_id))),
            vouchers=tuple(vouchers),
        )


def _move(
    ctx: Services,
    kind: _Kind,
    *,
    hospital_id: str,
    actor: str,
    person_id: str,
    amount_fen: int,
    method: Method,
    idempotency_key: str,
) -> Movement:
    _check(amount_fen, method, idempotency_key)
    key = f"{kind.key_prefix}:{hospital_id}:{idempotency_key}"
    request = PostingRequest(key, (_spec(kind, person_id, method, amount_fen),))
    now = ctx.clock.now()
    with ctx.uow() as uow:
        _require_patient(uow, hospital_id, person_id)
        # The person's account first: a concurrent call with the same key or person waits here,
        # then sees what the first one committed.
        open_accounts_in(
            uow,
            [
                (AccountKind.ARREARS, person_id),
                (AccountKind.REFUND_DUE, person_id),
                (AccountKind.CASH_CLEARING, method),
            ],
        )
        own = _arrears(person_id) if kind is _REPAY else _refund_due(person_id)
        balance = _balance(uow.ledger.lock_accounts([own]).get(own))
        if (record := uow.ledger.get_record(key)) is not None:
            if record.fingerprint != request.fingerprint():
                raise Conflict(
                    "this idempotency key was used for another amount, method or patient",
                    code="idempotency_conflict",
                )
            return _replayed(
                uow, kind, hospital_id=hospital_id, person_id=person_id, method=method, key=key
            )
        limit = _repayable(uow, person_id, balance) if kind is _REPAY else balance
        _check_within(kind, amount_fen, limit)
        (transfer,) = post(repo=uow.ledger, request=request, now=now).transfers
        remaining = limit - amount_fen
        audit(
            ctx,
            uow,
            actor=actor,
            action=kind.action,
            subject=transfer.id,
            details={
                "hospital": hospital_id,
                "person": person_id,
                "method": method,
                "amount_fen": amount_fen,
                "remaining_fen": remaining,
                "posting": key,
            },
        )
        uow.commit()
    return Movement(transfer.id, kind.direction, person_id, method, amount_fen, remaining, now)


def _replayed(
    uow: UnitOfWork, kind: _Kind, *, hospital_id: str, person_id: str, method: Method, key: str
) -> Movement:
    """The answer the first call gave: its transfer, and what its audit entry says was left."""
    (transfer,) = uow.ledger.transfers_of(key)
    entries = [
        e.details for e in uow.audit.by_subject(hospital_id, transfer.id) if e.action == kind.action
    ]
    remaining = entries[0].get("remaining_fen") if entries else None
    if not isinstance(remaining, int):
        raise Conflict(
            "this idempotency key was used for something else", code="idempotency_conflict"
        )
    return Movement(
        transfer.id,
        kind.direction,
        person_id,
        method,
        transfer.amount,
        remaining,
        transfer.created_at,
        replayed=True,
    )


def _check_within(kind: _Kind, amount_fen: int, limit: int) -> None:
    if amount_fen <= limit:
        return
    if kind is _REPAY:
        raise Conflict(
            f"{amount_fen} fen is more than the arrears repayable at the window ({limit} fen)",
            code="arrears_exceeded",
        )
    raise Conflict(
        f"{amount_fen} fen is more than the refund due ({limit} fen)", code="refund_due_exceeded"
    )


def _spec(kind: _Kind, person_id: str, method: Method, amount_fen: int) -> TransferSpec:
    clearing = account_id(AccountKind.CASH_CLEARING, method)
    if kind is _REPAY:
        return TransferSpec.transfer(clearing, _arrears(person_id), amount_fen, kind.key_prefix)
    return TransferSpec.transfer(_refund_due(person_id), clearing, amount_fen, kind.key_prefix)


def _check(amount_fen: int, method: str, key: str) -> None:
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise InvalidInput("amount_fen must be a positive number of fen", code="bad_amount")
    if method not in METHODS:
        raise InvalidInput("method: cash or bank", code="bad_method")
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise InvalidInput(f"an idempotency key is 1 to {MAX_KEY} printable characters")


def _require_patient(uow: UnitOfWork, hospital_id: str, person_id: str) -> None:
    require_hospital(uow, hospital_id)
    if uow.people.get(person_id) is None or not is_patient_of(uow, hospital_id, person_id):
        raise NotFound("no such patient")


def _repayable(uow: UnitOfWork, person_id: str, arrears: int) -> int:
    """The arrears less what merged emergency records still owe through their bills."""
    on_bills = sum(r.charged_fen for r in uow.emergency.merged_of_person(person_id))
    return max(arrears - on_bills, 0)


def _balance(account: Account | None) -> int:
    return account.balance if account is not None else 0


def _arrears(person_id: str) -> str:
    return account_id(AccountKind.ARREARS, person_id)


def _refund_due(person_id: str) -> str:
    return account_id(AccountKind.REFUND_DUE, person_id)
