"""Refund a paid bill, in full or by line.

By line: the whole settlement is reversed and the remaining lines are settled again under the
derived key `<reversal_key>:rest`, in the same transaction, so that caps, deductibles and the
personal account are recomputed as if the refunded lines had never been billed. The bill keeps
the remaining lines and points to the new settlement; a later refund reverses that one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from facepay.hospital.appointments import FEE_REF_PREFIX
from facepay.hospital.bills import PostedBill
from facepay.insurance.model import Bill
from facepay.insurance.platform import Claim, RemoteSettlement
from facepay.services.bills import hospital_bill, registered_person
from facepay.services.context import Services
from facepay.services.orders import check_refundable
from facepay.services.payments import (
    Payer,
    Receipt,
    reverse_in_transaction,
    settle_in_transaction,
)
from facepay.services.platform_claims import claim_of, operator_of, undo_unbooked
from facepay.services.ports import UnitOfWork
from facepay.services.support import audit
from facepay.shared.errors import Conflict, InvalidInput
from facepay.shared.money import round_half_up

REFUND_ACTION = "payment.refund"


@dataclass(frozen=True)
class Refund:
    """The reversal, and the re-settlement of the remaining lines when refunding by line."""

    bill: PostedBill
    reversal: Receipt
    resettlement: Receipt | None

    @property
    def refunded_fen(self) -> int:
        """What the refund took off the bill: the reversed total less the re-settled rest."""
        rest = self.resettlement.record.settlement.medfee_sumamt if self.resettlement else 0
        return self.reversal.record.settlement.medfee_sumamt - rest


def refund_amount(
    *, ctx: Services, hospital_id: str, bill_id: str, line_codes: Sequence[str] | None = None
) -> int:
    """The fen a refund of `line_codes` (None: the whole bill) asks for, from the stored bill,
    to check against the caller's refund limit before `refund_bill` runs."""
    with ctx.uow() as uow:
        posted = hospital_bill(uow, bill_id, hospital_id)
    return requested_fen(posted.bill, line_codes)


def requested_fen(bill: Bill, line_codes: Sequence[str] | None) -> int:
    """The amount of the lines a refund names, at least 1 fen: a refund of nothing (codes the
    bill does not have) is refused by `refund_bill` with its own reason, not by the limit."""
    wanted = None if line_codes is None else set(line_codes)
    lines = [line for line in bill.lines if wanted is None or line.code in wanted]
    return max(sum(round_half_up(line.unit_price * line.quantity) for line in lines), 1)


def refund_bill(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    bill_id: str,
    reversal_key: str,
    line_codes: Sequence[str] | None = None,
) -> Refund:
    """Reverse a paid bill's settlement (all lines, or only `line_codes`), once per key.

    With a remote settlement platform the settlement is cancelled there first (2208) and the
    remaining lines settled there again, outside the transaction; a refund that fails after
    that completes when repeated with the same key (the platform's side is found, not redone).
    """
    claim = remote = None
    if ctx.platform.remote:
        claim, remote = _on_the_platform(
            ctx,
            hospital_id=hospital_id,
            actor=actor,
            bill_id=bill_id,
            reversal_key=reversal_key,
            line_codes=line_codes,
        )
    try:
        with ctx.uow() as uow:
            refund = refund_in_transaction(
                ctx,
                uow,
                hospital_id=hospital_id,
                actor=actor,
                bill_id=bill_id,
                reversal_key=reversal_key,
                line_codes=line_codes,
                remote_rest=remote,
                on_the_platform=True,
            )
            if not refund.reversal.replayed:
                uow.commit()
    except BaseException as error:
        if claim is not None and remote is not None:
            undo_unbooked(ctx, claim=claim, remote=remote, error=error)
        raise
    return refund


def _on_the_platform(
    ctx: Services,
    *,
    hospital_id: str,
    actor: str,
    bill_id: str,
    reversal_key: str,
    line_codes: Sequence[str] | None,
) -> tuple[Claim | None, RemoteSettlement | None]:
    """Cancel the bill's settlement on the platform, and settle the lines it keeps there again
    (their claim and split; None when the refund is whole or already done)."""
    with ctx.uow() as uow:
        posted = hospital_bill(uow, bill_id, hospital_id)
        if uow.settlements.by_reversal_key(reversal_key) is not None:
            return None, None  # done before: the transaction replays it
        if posted.status != "paid" or posted.settlement_id is None:
            return None, None  # the transaction refuses it with its reason
        record = uow.settlements.get(posted.settlement_id)
        keep = _remaining(posted.bill, line_codes)
        check_refundable(uow, posted, line_codes)
        _check_not_a_live_booking_fee(uow, posted)
        person = registered_person(uow, posted.person_id)
        operator = operator_of(uow, actor)
    if record is None:
        return None, None
    ctx.platform.cancel(
        hospital_id=hospital_id,
        key=record.idempotency_key,
        cancel_key=reversal_key,
        operator=operator,
    )
    if keep is None:
        return None, None
    claim = claim_of(
        posted_ref=posted.external_ref,
        hospital_id=posted.hospital_id,
        bill=keep,
        person=person,
        operator=operator,
        key=f"{reversal_key}:rest",
    )
    return claim, ctx.platform.settle(claim)


def refund_in_transaction(
    ctx: Services,
    uow: UnitOfWork,
    *,
    hospital_id: str,
    actor: str,
    bill_id: str,
    reversal_key: str,
    line_codes: Sequence[str] | None = None,
    remote_rest: RemoteSettlement | None = None,
    on_the_platform: bool = False,
) -> Refund:
    """`refund_bill` inside a unit of work the caller opened and commits (a pharmacy return
    marks its lines returned in the same transaction). `on_the_platform`: a remote settlement
    platform has cancelled the settlement already and `remote_rest` is its split of the lines
    kept (refund_bill does both); without it such a platform's bills are refused here."""
    if ctx.platform.remote and not on_the_platform:
        raise Conflict(
            "bills settled by the national platform are refunded at the cashier "
            "(POST /v1/bills/{id}/refund), which cancels them there too",
            code="refund_at_the_cashier",
        )
    now = ctx.clock.now()
    rest_key = f"{reversal_key}:rest"
    posted = hospital_bill(uow, bill_id, hospital_id)
    if (done := uow.settlements.by_reversal_key(reversal_key)) is not None:
        return _replayed(
            uow,
            posted,
            line_codes=line_codes,
            hospital_id=hospital_id,
            settlement_id=done.id,
            reversal_key=reversal_key,
            rest_key=rest_key,
        )
    if posted.status != "paid" or posted.settlement_id is None:
        raise Conflict(f"the bill is {posted.status}", code=f"bill_{posted.status}")
    keep = _remaining(posted.bill, line_codes)
    check_refundable(uow, posted, line_codes)
    _check_not_a_live_booking_fee(uow, posted)
    reversal = reverse_in_transaction(
        uow, settlement_id=posted.settlement_id, reversal_key=reversal_key, now=now
    )
    resettlement = None
    if keep is None:
        updated = replace(posted, status="refunded")
    else:
        person = registered_person(uow, posted.person_id)
        policy = ctx.policies.pick(service_date=keep.service_date, category=person.category)
        resettlement = settle_in_transaction(
            uow,
            hospital_id=hospital_id,
            bill=keep,
            payer=Payer(person.id, person.category, person.medical_assistance),
            policy=policy,
            idempotency_key=rest_key,
            now=now,
            remote=remote_rest,
        )
        updated = replace(posted, bill=keep, settlement_id=resettlement.record.id)
    uow.bills.save(updated)
    refunded = Refund(updated, reversal, resettlement).refunded_fen
    audit(
        ctx,
        uow,
        actor=actor,
        action=REFUND_ACTION,
        subject=posted.id,
        details={
            "hospital": hospital_id,
            "settlement": reversal.record.id,
            "resettlement": resettlement.record.id if resettlement else None,
            "lines": sorted(line_codes) if line_codes else None,
            "refunded_fen": refunded,
        },
    )
    return Refund(updated, reversal, resettlement)


def _remaining(bill: Bill, line_codes: Sequence[str] | None) -> Bill | None:
    """The bill without the refunded lines; None for a full refund."""
    if line_codes is None:
        return None
    wanted = set(line_codes)
    codes = {line.code for line in bill.lines}
    if not wanted or not wanted <= codes:
        raise InvalidInput("line_codes must name lines of the bill", code="bad_line_codes")
    rest = tuple(line for line in bill.lines if line.code not in wanted)
    return replace(bill, lines=rest) if rest else None


def _replayed(
    uow: UnitOfWork,
    posted: PostedBill,
    *,
    line_codes: Sequence[str] | None,
    hospital_id: str,
    settlement_id: str,
    reversal_key: str,
    rest_key: str,
) -> Refund:
    record = uow.settlements.get(settlement_id)
    assert record is not None
    # The refund's audit entry, in the same database, says which bill the key refunded: the
    # patient alone is not enough (one patient has many bills).
    done = [
        entry.details
        for entry in uow.audit.by_subject(hospital_id, posted.id)
        if entry.action == REFUND_ACTION and entry.details.get("settlement") == settlement_id
    ]
    if not done:
        raise Conflict("this refund key refunded another bill", code="idempotency_conflict")
    if done[0].get("lines") != (sorted(line_codes) if line_codes else None):
        raise Conflict(
            "this refund key refunded other lines of the bill", code="idempotency_conflict"
        )
    reversal = Receipt(record, tuple(uow.ledger.transfers_of(f"reverse:{reversal_key}")), True)
    rest = uow.settlements.by_key(rest_key)
    resettlement = None
    if rest is not None:
        posting = uow.ledger.transfers_of(rest.posting_key) if rest.posting_key else []
        resettlement = Receipt(rest, tuple(posting), replayed=True)
    return Refund(posted, reversal, resettlement)


def _check_not_a_live_booking_fee(uow: UnitOfWork, posted: PostedBill) -> None:
    """A booking's registration fee is refunded by cancelling the booking (which frees the
    slot and follows the cancel rules), never on its own while the booking stands."""
    if not posted.external_ref.startswith(FEE_REF_PREFIX):
        return
    booking = uow.appointments.get(posted.external_ref[len(FEE_REF_PREFIX) :], posted.hospital_id)
    if booking is not None and booking.bill_id == posted.id and booking.status != "cancelled":
        raise Conflict(
            "this is a booking's registration fee: cancel the booking to refund it",
            code="cancel_the_booking",
        )
