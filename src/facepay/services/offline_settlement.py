"""The authoritative settlement of an offline payment, and what it differs by.

The terminal collected `cash_collected_fen` on a provisional split it computed from its library
snapshot. The server settles the bill again as if it were paid now (the current policy, the true
accumulators and personal account), with the terminal's suspense account
(`terminal_suspense:<terminal>`) as where the cash part came from, and records the difference so
that it is never lost nor counted twice:

- the authoritative cash part is larger: the patient owes the rest, debit `arrears:<person>`,
  credit `terminal_suspense:<terminal>`;
- it is smaller: the site owes the patient the excess, debit `terminal_suspense:<terminal>`,
  credit `refund_due:<person>`;
- the bill was paid or cancelled meanwhile (another terminal, the window): no settlement, the
  whole cash collected is refund due.

Either way the suspense account ends up holding exactly the cash the terminal collected, which
the site clears when the terminal's cash is counted in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from facepay.hospital.offline import DifferenceKind, OfflineVoucherRecord
from facepay.ledger.accounts import AccountKind, account_id
from facepay.ledger.posting import post
from facepay.ledger.transfers import PostingRequest, TransferSpec
from facepay.services import orders
from facepay.services.bills import registered_person
from facepay.services.context import Services
from facepay.services.emergency_arrears import settle_paid_bill
from facepay.services.ledger import open_accounts_in
from facepay.services.payments import Payer, settle_in_transaction
from facepay.services.ports import UnitOfWork
from facepay.shared.errors import Conflict


@dataclass(frozen=True)
class Outcome:
    """What the authoritative settlement did."""

    settlement_id: str | None
    difference_kind: DifferenceKind
    difference_fen: int
    reason: str | None
    message: str


def suspense(terminal_id: str) -> str:
    """The id of the terminal's suspense account (cash it collected offline)."""
    return account_id(AccountKind.TERMINAL_SUSPENSE, terminal_id)


def settle_voucher(
    ctx: Services, uow: UnitOfWork, record: OfflineVoucherRecord, *, actor: str, now: datetime
) -> Outcome:
    """Settle the voucher's bill authoritatively and post the difference (inside `uow`)."""
    posted = uow.bills.get(record.bill_id, record.hospital_id)
    if posted is None or posted.person_id != record.person_id:
        # Only a review posts such a voucher: there is no bill of this person to settle.
        refund_due(uow, record, amount=record.cash_collected_fen, key="nobill", now=now)
        return Outcome(
            None,
            "refund_due" if record.cash_collected_fen else "none",
            record.cash_collected_fen,
            "bill_mismatch",
            _message("bill_mismatch", record.cash_collected_fen),
        )
    if posted.status != "open":
        refund_due(uow, record, amount=record.cash_collected_fen, key="paid", now=now)
        return Outcome(
            None,
            "refund_due" if record.cash_collected_fen else "none",
            record.cash_collected_fen,
            "bill_already_paid",
            _message("bill_already_paid", record.cash_collected_fen),
        )
    person = registered_person(uow, posted.person_id)
    policy = ctx.policies.pick(service_date=posted.bill.service_date, category=person.category)
    # The accumulators row first, then the accounts: the order every use case takes them in.
    uow.accumulators.lock(person.id, posted.bill.service_date.year)
    _open(uow, record)
    receipt = settle_in_transaction(
        uow,
        hospital_id=record.hospital_id,
        bill=posted.bill,
        payer=Payer(person.id, person.category, person.medical_assistance),
        policy=policy,
        idempotency_key=f"offline:{record.id}",
        now=now,
        cash_account=suspense(record.terminal_id),
    )
    if receipt.replayed:
        raise Conflict("this voucher was settled already", code="voucher_exists")
    paid = replace(posted, status="paid", settlement_id=receipt.record.id, paid_at=now)
    uow.bills.save(paid)
    orders.on_paid(ctx, uow, paid, actor=actor, now=now)
    settle_paid_bill(ctx, uow, bill=paid, actor=actor, now=now)
    gap = receipt.record.settlement.psn_cash_pay - record.cash_collected_fen
    kind: DifferenceKind = "none"
    if gap > 0:
        kind = "arrears"
        spec = TransferSpec.transfer(
            account_id(AccountKind.ARREARS, record.person_id),
            suspense(record.terminal_id),
            gap,
            "offline.arrears",
        )
        post(
            repo=uow.ledger,
            request=PostingRequest(f"offline.arrears:{record.id}", (spec,)),
            now=now,
        )
    elif gap < 0:
        kind = "refund_due"
        refund_due(uow, record, amount=-gap, key="excess", now=now)
    return Outcome(receipt.record.id, kind, abs(gap), None, _message(kind, abs(gap)))


def refund_due(
    uow: UnitOfWork, record: OfflineVoucherRecord, *, amount: int, key: str, now: datetime
) -> None:
    """Owe the patient `amount` of the cash the terminal collected (nothing for 0)."""
    if amount <= 0:
        return
    _open(uow, record)
    spec = TransferSpec.transfer(
        suspense(record.terminal_id),
        account_id(AccountKind.REFUND_DUE, record.person_id),
        amount,
        "offline.refund_due",
    )
    post(
        repo=uow.ledger,
        request=PostingRequest(f"offline.{key}:{record.id}", (spec,)),
        now=now,
    )


def _open(uow: UnitOfWork, record: OfflineVoucherRecord) -> None:
    open_accounts_in(
        uow,
        [
            (AccountKind.TERMINAL_SUSPENSE, record.terminal_id),
            (AccountKind.ARREARS, record.person_id),
            (AccountKind.REFUND_DUE, record.person_id),
        ],
    )


def _message(kind: str, amount: int) -> str:
    """One plain sentence for the patient's next visit."""
    yuan = f"{amount // 100}.{amount % 100:02d} yuan"
    if kind == "arrears":
        return (
            f"After insurance's final settlement {yuan} is still to pay: please pay it at the "
            "window."
        )
    if kind == "refund_due":
        return f"You paid {yuan} more than insurance settled: it is refunded at the window."
    if kind == "bill_already_paid":
        return f"This bill had been paid already: the {yuan} you paid are refunded at the window."
    if kind == "bill_mismatch":
        return f"This payment matches no bill of yours: the {yuan} you paid are refunded."
    return "Paid: insurance confirmed the amount you paid."
