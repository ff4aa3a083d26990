"""The ledger side of emergency records: charge into arrears, move them to the person, clear them.

Treatment given before payment is owed to the site: each charge debits the record's arrears
account (`emergency_arrears:<site>/<record>`) and credits the site's unsettled treatment
(`hospital_unsettled:<site>`), so the site's books show what its emergency patients owe. A merge
moves the record's arrears to the person's (`arrears:<person>`); when the merged bill is paid the
normal way (its settlement credits the funds' receivables and the site's revenue as for any bill),
the same transaction clears the person's arrears against the unsettled treatment, so nothing is
counted twice and nothing is lost. Every posting has its own idempotency key.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from facepay.hospital.bills import PostedBill
from facepay.hospital.emergency import EmergencyRecord
from facepay.ledger.accounts import AccountKind, account_id
from facepay.ledger.posting import post
from facepay.ledger.transfers import PostingRequest, Transfer, TransferSpec
from facepay.services.context import Storage
from facepay.services.ledger import open_accounts_in
from facepay.services.ports import UnitOfWork
from facepay.services.support import audit


def record_arrears(record: EmergencyRecord) -> str:
    """The id of the record's arrears account."""
    return account_id(AccountKind.EMERGENCY_ARREARS, record.arrears_owner)


def unsettled(hospital_id: str) -> str:
    """The id of the site's account of treatment given and not settled yet."""
    return account_id(AccountKind.HOSPITAL_UNSETTLED, hospital_id)


def person_arrears(person_id: str) -> str:
    """The id of a person's arrears account."""
    return account_id(AccountKind.ARREARS, person_id)


def post_charge(
    uow: UnitOfWork, record: EmergencyRecord, *, amount: int, key: str, now: datetime
) -> tuple[Transfer, ...]:
    """Debit the record's arrears and credit the site's unsettled treatment by `amount`."""
    open_accounts_in(
        uow,
        [
            (AccountKind.EMERGENCY_ARREARS, record.arrears_owner),
            (AccountKind.HOSPITAL_UNSETTLED, record.hospital_id),
        ],
    )
    spec = TransferSpec.transfer(
        record_arrears(record), unsettled(record.hospital_id), amount, "emergency.charge"
    )
    return post(repo=uow.ledger, request=PostingRequest(key, (spec,)), now=now).transfers


def post_merge(
    uow: UnitOfWork, record: EmergencyRecord, *, person_id: str, now: datetime
) -> tuple[Transfer, ...]:
    """Move everything the record owes to the person's arrears (the record's account ends at 0)."""
    open_accounts_in(uow, [(AccountKind.ARREARS, person_id)])
    spec = TransferSpec.transfer(
        person_arrears(person_id), record_arrears(record), record.charged_fen, "emergency.merge"
    )
    request = PostingRequest(f"emergency.merge:{record.id}", (spec,))
    return post(repo=uow.ledger, request=request, now=now).transfers


def settle_paid_bill(
    ctx: Storage, uow: UnitOfWork, *, bill: PostedBill, actor: str, now: datetime
) -> EmergencyRecord | None:
    """If `bill` is a merged emergency record's, clear the person's arrears against the site's
    unsettled treatment and mark the record settled, inside the payment's transaction; None
    (and nothing done) for any other bill."""
    record = uow.emergency.record_by_bill(bill.hospital_id, bill.id)
    if record is None or record.status != "merged" or record.person_id is None:
        return None
    spec = TransferSpec.transfer(
        unsettled(record.hospital_id),
        person_arrears(record.person_id),
        record.charged_fen,
        "emergency.settle",
    )
    request = PostingRequest(f"emergency.settle:{record.id}", (spec,))
    post(repo=uow.ledger, request=request, now=now)
    settled = replace(record, status="settled")
    uow.emergency.save_record(settled)
    audit(
        ctx,
        uow,
        actor=actor,
        action="emergency.settle",
        subject=record.id,
        details={
            "hospital": record.hospital_id,
            "record": record.number,
            "person": record.person_id,
            "bill": bill.id,
            "settlement": bill.settlement_id,
            "cleared_fen": record.charged_fen,
        },
    )
    return settled
