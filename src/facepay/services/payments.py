"""Use cases that move money for a bill: settle it and post it in one transaction, or reverse it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal

from facepay.insurance.model import Accumulators, Bill, Coverage, Settlement
from facepay.insurance.platform import RemoteSettlement
from facepay.insurance.policy import Policy
from facepay.insurance.settlement import settle
from facepay.ledger.accounts import (
    AccountKind,
    account_id,
    hospital_receivable,
    hospital_revenue,
)
from facepay.ledger.corrections import reverse
from facepay.ledger.posting import post
from facepay.ledger.transfers import PostingRequest, Transfer, TransferSpec
from facepay.services.ports import SettlementRecord, UnitOfWork
from facepay.shared.clock import Clock, SystemClock
from facepay.shared.errors import Conflict, InvalidInput, NotFound
from facepay.shared.ids import new_id

MAX_KEY = 150
CASH_CLEARING = account_id(AccountKind.CASH_CLEARING, "cash")


@dataclass(frozen=True)
class Payer:
    """The insured person paying: who, their category, and whether assistance covers them."""

    person_id: str
    category: str
    medical_assistance: bool = False


@dataclass(frozen=True)
class Receipt:
    """A settlement that is stored and posted; `replayed` when it came from an earlier call."""

    record: SettlementRecord
    transfers: tuple[Transfer, ...]
    replayed: bool = False


def settle_and_post(
    *,
    uow: UnitOfWork,
    hospital_id: str,
    bill: Bill,
    payer: Payer,
    policy: Policy,
    idempotency_key: str,
    cash_account: str = CASH_CLEARING,
    clock: Clock | None = None,
) -> Receipt:
    """Split a bill by the policy and move the money into the hospital's own receivables and
    revenue, once per idempotency key, atomically."""
    _check_key(idempotency_key)
    now = (clock or SystemClock()).now()
    with uow:
        receipt = settle_in_transaction(
            uow,
            hospital_id=hospital_id,
            bill=bill,
            payer=payer,
            policy=policy,
            idempotency_key=idempotency_key,
            cash_account=cash_account,
            now=now,
        )
        if not receipt.replayed:
            uow.commit()
    return receipt


def settle_in_transaction(
    uow: UnitOfWork,
    *,
    hospital_id: str,
    bill: Bill,
    payer: Payer,
    policy: Policy,
    idempotency_key: str,
    now: datetime,
    cash_account: str = CASH_CLEARING,
    remote: RemoteSettlement | None = None,
) -> Receipt:
    """`settle_and_post` inside a unit of work the caller opened and commits; `remote`: the
    split a settlement platform made (facepay.insurance.platform), booked as it is."""
    _check_key(idempotency_key)
    fingerprint = _fingerprint(bill, payer, policy.id, cash_account, hospital_id)
    personal = account_id(AccountKind.PERSONAL_ACCOUNT, payer.person_id)
    accumulators, available = standing(uow, payer.person_id, bill.service_date.year)
    if (existing := uow.settlements.by_key(idempotency_key)) is not None:
        return _replay(uow, existing, fingerprint)
    coverage = Coverage(
        category=payer.category,
        personal_account_balance=available,
        medical_assistance=payer.medical_assistance,
    )
    settlement = (
        settle(bill=bill, coverage=coverage, accumulators=accumulators, policy=policy)
        if remote is None
        else remote.settlement(bill=bill, policy_id=policy.id, accumulators=accumulators)
    )
    request = _posting(settlement, personal, cash_account, hospital_id, f"settle:{idempotency_key}")
    transfers = post(repo=uow.ledger, request=request, now=now).transfers if request else ()
    record = SettlementRecord(
        id=new_id("stl"),
        hospital_id=hospital_id,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        person_id=payer.person_id,
        settlement=settlement,
        posting_key=request.key if request else None,
        status="settled",
        created_at=now,
        bill=bill,
        coverage=coverage,
    )
    uow.settlements.add(record)
    uow.accumulators.save(payer.person_id, settlement.accumulators_after)
    return Receipt(record, transfers)


def standing(uow: UnitOfWork, person_id: str, year: int) -> tuple[Accumulators, int]:
    """A person's accumulators of `year` and what their personal account can still pay (fen),
    both locked, in the order every use case takes them: the accumulators row, then the
    accounts by id."""
    accumulators = uow.accumulators.lock(person_id, year)
    personal = account_id(AccountKind.PERSONAL_ACCOUNT, person_id)
    account = uow.ledger.lock_accounts([personal]).get(personal)
    return accumulators, max(account.available, 0) if account else 0


def reverse_settlement(
    *, uow: UnitOfWork, settlement_id: str, reversal_key: str, clock: Clock | None = None
) -> Receipt:
    """Undo a settlement: reversing transfers and accumulators minus its deltas, once per key."""
    _check_key(reversal_key)
    now = (clock or SystemClock()).now()
    with uow:
        receipt = reverse_in_transaction(
            uow, settlement_id=settlement_id, reversal_key=reversal_key, now=now
        )
        if not receipt.replayed:
            uow.commit()
    return receipt


def reverse_in_transaction(
    uow: UnitOfWork, *, settlement_id: str, reversal_key: str, now: datetime
) -> Receipt:
    """`reverse_settlement` inside a unit of work the caller opened and commits."""
    _check_key(reversal_key)
    found = uow.settlements.get(settlement_id)
    if found is None:
        raise NotFound(f"no settlement {settlement_id}")
    year = found.settlement.deltas.year
    accumulators = uow.accumulators.lock(found.person_id, year)
    record = uow.settlements.get(settlement_id)  # re-read under the lock
    assert record is not None
    if record.status == "reversed":
        if record.reversal_key != reversal_key:
            raise Conflict(f"settlement {settlement_id} is already reversed")
        return _reversal_receipt(uow, record, replayed=True)
    other = uow.settlements.by_reversal_key(reversal_key)
    if other is not None:
        raise Conflict(f"reversal key {reversal_key!r} was used for another settlement")
    if record.posting_key is not None:
        reverse(
            repo=uow.ledger,
            original_key=record.posting_key,
            key=f"reverse:{reversal_key}",
            now=now,
        )
    uow.accumulators.save(record.person_id, accumulators.minus(record.settlement.deltas))
    uow.settlements.mark_reversed(settlement_id, reversal_key=reversal_key, at=now)
    record = uow.settlements.get(settlement_id)
    assert record is not None
    return _reversal_receipt(uow, record, replayed=False)


def _reversal_receipt(uow: UnitOfWork, record: SettlementRecord, *, replayed: bool) -> Receipt:
    transfers = tuple(uow.ledger.transfers_of(f"reverse:{record.reversal_key}"))
    return Receipt(record, transfers, replayed=replayed)


def _replay(uow: UnitOfWork, record: SettlementRecord, fingerprint: str) -> Receipt:
    if record.fingerprint != fingerprint:
        raise Conflict(
            f"idempotency key {record.idempotency_key!r} was used for a different payment"
        )
    transfers = uow.ledger.transfers_of(record.posting_key) if record.posting_key else []
    return Receipt(record, tuple(transfers), replayed=True)


def _posting(
    settlement: Settlement, personal: str, cash_account: str, hospital_id: str, key: str
) -> PostingRequest | None:
    """The linked transfers of a settlement: each fund part (into what that fund owes the
    hospital), the account part and the cash part (into the hospital's revenue)."""
    revenue = hospital_revenue(hospital_id)
    parts = [
        (
            account_id(AccountKind.FUND_POOL, fund),
            hospital_receivable(hospital_id, fund),
            amount,
            f"settle.{fund}",
        )
        for fund, amount in (
            ("hifp", settlement.hifp_pay),
            ("hifmi", settlement.hifmi_pay),
            ("maf", settlement.maf_pay),
        )
    ]
    parts.append((personal, revenue, settlement.acct_pay, "settle.acct"))
    parts.append((cash_account, revenue, settlement.psn_cash_pay, "settle.cash"))
    specs = tuple(TransferSpec.transfer(*part) for part in parts if part[2] > 0)
    return PostingRequest(key, specs) if specs else None


def check_key(key: str) -> None:
    """An idempotency key is 1 to MAX_KEY printable characters (InvalidInput otherwise)."""
    _check_key(key)


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise InvalidInput(f"an idempotency key is 1 to {MAX_KEY} printable characters")


def _fingerprint(
    bill: Bill, payer: Payer, policy_id: str, cash_account: str, hospital_id: str
) -> str:
    def plain(value: object) -> object:
        if isinstance(value, Decimal | date | datetime):
            return str(value)
        raise TypeError(type(value).__name__)

    body = {
        "bill": asdict(bill),
        "payer": asdict(payer),
        "policy": policy_id,
        "cash": cash_account,
        "hospital": hospital_id,
    }
    text = json.dumps(body, sort_keys=True, default=plain)
    return hashlib.sha256(text.encode()).hexdigest()


def get_settlement(*, uow: UnitOfWork, settlement_id: str) -> SettlementRecord:
    """One stored settlement, with its status."""
    with uow:
        record = uow.settlements.get(settlement_id)
    if record is None:
        raise NotFound(f"no settlement {settlement_id}")
    return record
