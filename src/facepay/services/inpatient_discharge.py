"""The discharge settlement of a stay and its cancellation (the national interface's 2305).

One transaction settles the stay's inpatient bill and nets the deposit against the cash share:

1. the deposit holds are posted, oldest first, for min(deposit, cash share) into the patient's
   wallet (a hold taken in part releases its rest); holds not needed are voided: the surplus
   goes back to its source (cash or card);
2. a shortfall is lent from the patient's arrears account into the wallet: what they still owe;
3. `settle_in_transaction` settles the bill with the wallet as the cash account, so the cash
   share leaves the wallet for the hospital's revenue, and the funds and the personal account
   pay their parts. The wallet ends where it began.

Hence deposit applied + arrears + fund + personal account == the charges, to the fen.

A reversal undoes the settlement (`reverse_in_transaction`), reverses the posted holds and the
arrears, and holds again what the discharge took of each deposit (what it released went back to
its source and stays there: `Deposit.returned`); the stay is open again (same bed) and can be
charged and settled anew under a new idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from facepay.hospital.inpatient import Deposit, Discharge, Netting, net_deposit, stay_bill
from facepay.insurance.platform import Claim, RemoteSettlement
from facepay.ledger.accounts import AccountKind, account_id
from facepay.ledger.corrections import reverse
from facepay.ledger.posting import post
from facepay.ledger.transfers import PostingRequest, Transfer, TransferSpec
from facepay.services.bills import registered_person
from facepay.services.context import Services
from facepay.services.inpatient import (
    StayView,
    clearing_account,
    hospital_stay,
    provisional_settlement,
    view_of,
    wallet_account,
)
from facepay.services.payments import Payer, Receipt, reverse_in_transaction, settle_in_transaction
from facepay.services.platform_claims import claim_of, operator_of, undo_unbooked
from facepay.services.ports import UnitOfWork
from facepay.services.support import audit
from facepay.shared.errors import Conflict
from facepay.shared.ids import new_id


@dataclass(frozen=True)
class Discharged:
    """A discharge settlement: the stay after it, the settlement's receipt, the netting."""

    view: StayView
    discharge: Discharge
    receipt: Receipt
    replayed: bool


@dataclass(frozen=True)
class DischargeReversed:
    """A cancelled discharge: the stay open again, the reversal's receipt."""

    view: StayView
    discharge: Discharge
    reversal: Receipt
    replayed: bool


def apply_key(idempotency_key: str) -> str:
    """The posting that takes the deposit holds and lends the arrears of a discharge."""
    return f"inpatient.apply:{idempotency_key}"


def discharge(
    *, ctx: Services, hospital_id: str, actor: str, stay_id: str, idempotency_key: str
) -> Discharged:
    """Settle the stay's charges by the inpatient policy and net the deposit against the cash
    share (surplus released, shortfall to arrears), all at once, once per idempotency key.

    With a remote settlement platform the stay is settled there first, outside the
    transaction, and the transaction books that split (cancelled there if booking fails)."""
    claim = remote = None
    if ctx.platform.remote:
        with ctx.uow() as uow:
            claim = _stay_claim(uow, hospital_id, actor, stay_id, idempotency_key)
        remote = ctx.platform.settle(claim) if claim is not None else None
    try:
        return _discharge(
            ctx,
            hospital_id=hospital_id,
            actor=actor,
            stay_id=stay_id,
            idempotency_key=idempotency_key,
            claim=claim,
            remote=remote,
        )
    except BaseException as error:
        if claim is not None and remote is not None:
            undo_unbooked(ctx, claim=claim, remote=remote, error=error)
        raise


def _stay_claim(
    uow: UnitOfWork, hospital_id: str, actor: str, stay_id: str, key: str
) -> Claim | None:
    """The platform claim of an open stay's charges (None: a replay, or a discharge the
    transaction refuses with its own reason). Nothing commits."""
    stay = hospital_stay(uow, stay_id, hospital_id)
    if uow.inpatient.discharge_by_key(key) is not None or not stay.is_open:
        return None
    if uow.settlements.by_key(key) is not None:
        return None
    person = registered_person(uow, stay.person_id)
    bill = stay_bill(stay, uow.inpatient.charges_of(stay.id))
    return replace(
        claim_of(
            posted_ref=stay.id,
            hospital_id=hospital_id,
            bill=bill,
            person=person,
            operator=operator_of(uow, actor),
            key=key,
        ),
        started_at=stay.admitted_at,
        diagnosis=(stay.diagnosis.code, stay.diagnosis.text),
    )


def _discharge(
    ctx: Services,
    *,
    hospital_id: str,
    actor: str,
    stay_id: str,
    idempotency_key: str,
    claim: Claim | None,
    remote: RemoteSettlement | None,
) -> Discharged:
    now = ctx.clock.now()
    with ctx.uow() as uow:
        stay = hospital_stay(uow, stay_id, hospital_id)
        seen = uow.inpatient.discharge_by_key(idempotency_key)
        if seen is not None:
            return _replayed_discharge(ctx, uow, seen, stay_id)
        if not stay.is_open:
            raise Conflict("the stay is discharged already", code="stay_discharged")
        if uow.settlements.by_key(idempotency_key) is not None:
            raise Conflict(
                "this idempotency key settled something else", code="idempotency_conflict"
            )
        lines = uow.inpatient.charges_of(stay.id)
        preview, policy, person = provisional_settlement(ctx, uow, stay, lines)
        cash_share = preview.psn_cash_pay
        if remote is not None:
            if claim is None or stay_bill(stay, lines) != claim.bill:
                raise Conflict(
                    "charges changed while the platform settled the stay: discharge again",
                    code="stay_changed",
                )
            cash_share = remote.amounts["psn_cash_pay"]
        deposits = uow.inpatient.deposits_of(stay.id)
        netting = net_deposit(cash_share, deposits)
        wallet = wallet_account(person.id)
        _net(uow, netting, deposits, person_id=person.id, key=idempotency_key, now=now)
        receipt = settle_in_transaction(
            uow,
            hospital_id=hospital_id,
            bill=stay_bill(stay, lines),
            payer=Payer(person.id, person.category, person.medical_assistance),
            policy=policy,
            idempotency_key=idempotency_key,
            now=now,
            cash_account=wallet,
            remote=remote,
        )
        settled = receipt.record.settlement
        # Same locked inputs, same pure function: anything else is a bug, and rolls back.
        assert settled.psn_cash_pay == netting.cash_share, "the cash share moved under the lock"
        taken = dict(netting.posts)
        for held in deposits:
            uow.inpatient.save_deposit(replace(held, applied=taken.get(held.id, 0)))
        made = Discharge(
            id=new_id("dis"),
            stay_id=stay.id,
            hospital_id=hospital_id,
            idempotency_key=idempotency_key,
            settlement_id=receipt.record.id,
            cash_share=netting.cash_share,
            applied=netting.applied,
            released=netting.released,
            arrears=netting.arrears,
            created_at=now,
            actor=actor,
        )
        uow.inpatient.add_discharge(made)
        stay = replace(stay, status="discharged", discharged_at=now, low_deposit_alerted=False)
        uow.inpatient.save_stay(stay)
        audit(
            ctx,
            uow,
            actor=actor,
            action="inpatient.discharge",
            subject=stay.id,
            details={
                "hospital": hospital_id,
                "person": person.id,
                "discharge": made.id,
                "settlement": receipt.record.id,
                "policy": policy.id,
                "lines": len(lines),
                "total_fen": settled.medfee_sumamt,
                "fund_fen": settled.fund_pay_sumamt,
                "account_fen": settled.acct_pay,
                "cash_fen": settled.psn_cash_pay,
                "deposit_fen": netting.deposit,
                "applied_fen": netting.applied,
                "released_fen": netting.released,
                "arrears_fen": netting.arrears,
            },
        )
        view = view_of(ctx, uow, stay)
        uow.commit()
    return Discharged(view, made, receipt, replayed=False)


def _net(
    uow: UnitOfWork,
    netting: Netting,
    deposits: list[Deposit],
    *,
    person_id: str,
    key: str,
    now: datetime,
) -> None:
    """Post the holds taken and the arrears lent (one posting, reversible), then void the
    holds not needed (another: voids are final)."""
    holds = {d.id: d.hold_id for d in deposits}
    specs = [
        TransferSpec.post(holds[deposit_id], "inpatient.deposit_apply", amount)
        for deposit_id, amount in netting.posts
    ]
    if netting.arrears:
        arrears = account_id(AccountKind.ARREARS, person_id)
        specs.append(
            TransferSpec.transfer(
                arrears, wallet_account(person_id), netting.arrears, "inpatient.arrears"
            )
        )
    if specs:
        post(repo=uow.ledger, request=PostingRequest(apply_key(key), tuple(specs)), now=now)
    voids = tuple(
        TransferSpec.void(holds[deposit_id], "inpatient.deposit_release")
        for deposit_id in netting.voids
    )
    if voids:
        post(repo=uow.ledger, request=PostingRequest(f"inpatient.release:{key}", voids), now=now)


def _replayed_discharge(
    ctx: Services, uow: UnitOfWork, seen: Discharge, stay_id: str
) -> Discharged:
    if seen.stay_id != stay_id:
        raise Conflict("this idempotency key discharged another stay", code="idempotency_conflict")
    record = uow.settlements.get(seen.settlement_id)
    assert record is not None
    transfers = uow.ledger.transfers_of(record.posting_key) if record.posting_key else []
    stay = hospital_stay(uow, stay_id, seen.hospital_id)
    return Discharged(view_of(ctx, uow, stay), seen, Receipt(record, tuple(transfers), True), True)


def reverse_discharge(
    *, ctx: Services, hospital_id: str, actor: str, stay_id: str, reversal_key: str
) -> DischargeReversed:
    """Cancel the stay's discharge settlement: the settlement reversed, the deposit held
    again in full, the arrears cancelled, the stay open again; once per key. With a remote
    settlement platform it is cancelled there first (2305), outside the transaction."""
    if ctx.platform.remote:
        _cancel_on_the_platform(ctx, hospital_id, actor, stay_id, reversal_key)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        stay = hospital_stay(uow, stay_id, hospital_id)
        seen = uow.inpatient.discharge_by_reversal_key(reversal_key)
        if seen is not None:
            if seen.stay_id != stay.id:
                raise Conflict(
                    "this idempotency key reversed another stay", code="idempotency_conflict"
                )
            record = uow.settlements.get(seen.settlement_id)
            assert record is not None
            transfers = tuple(uow.ledger.transfers_of(f"reverse:{reversal_key}"))
            return DischargeReversed(
                view_of(ctx, uow, stay), seen, Receipt(record, transfers, True), True
            )
        standing = [d for d in uow.inpatient.discharges_of(stay.id) if d.status == "settled"]
        if stay.is_open or not standing:
            raise Conflict(
                "the stay has no discharge settlement to reverse", code="stay_not_discharged"
            )
        if uow.settlements.by_reversal_key(reversal_key) is not None:
            raise Conflict(
                "this idempotency key reversed something else", code="idempotency_conflict"
            )
        current = standing[-1]
        reversal = reverse_in_transaction(
            uow, settlement_id=current.settlement_id, reversal_key=reversal_key, now=now
        )
        if uow.ledger.get_record(apply_key(current.idempotency_key)) is not None:
            reverse(
                repo=uow.ledger,
                original_key=apply_key(current.idempotency_key),
                key=f"inpatient.unapply:{reversal_key}",
                now=now,
            )
        # What the discharge took is the hospital's again to hold for the stay; what it
        # released went back to its source (the cash handed back, the card's hold lifted) and
        # is not held again: the patient would otherwise be paid it back twice.
        deposits = uow.inpatient.deposits_of(stay.id)
        taken = [d for d in deposits if d.applied]
        holds = _hold_again(uow, taken, person_id=stay.person_id, key=reversal_key, now=now)
        rehold = {d.id: hold.id for d, hold in zip(taken, holds, strict=True)}
        for held in deposits:
            uow.inpatient.save_deposit(
                replace(
                    held,
                    hold_id=rehold.get(held.id, held.hold_id),
                    applied=0,
                    returned=held.amount - held.applied,
                )
            )
        cancelled = replace(current, status="reversed", reversal_key=reversal_key, reversed_at=now)
        uow.inpatient.save_discharge(cancelled)
        stay = replace(stay, status="admitted", discharged_at=None)
        # Refused (already_admitted, bed_occupied) when the person or the bed has since been
        # admitted again: nothing is reversed then.
        uow.inpatient.save_stay(stay)
        audit(
            ctx,
            uow,
            actor=actor,
            action="inpatient.discharge_reverse",
            subject=stay.id,
            details={
                "hospital": hospital_id,
                "person": stay.person_id,
                "discharge": current.id,
                "settlement": current.settlement_id,
                "cash_fen": current.cash_share,
                "deposit_held_fen": sum(d.applied for d in taken),
                "arrears_cancelled_fen": current.arrears,
            },
        )
        view = view_of(ctx, uow, stay)
        uow.commit()
    return DischargeReversed(view, cancelled, reversal, replayed=False)


def _cancel_on_the_platform(
    ctx: Services, hospital_id: str, actor: str, stay_id: str, reversal_key: str
) -> None:
    """The platform's side of a discharge reversal (nothing if it is a replay or refused)."""
    with ctx.uow() as uow:
        stay = hospital_stay(uow, stay_id, hospital_id)
        if uow.inpatient.discharge_by_reversal_key(reversal_key) is not None:
            return
        standing = [d for d in uow.inpatient.discharges_of(stay.id) if d.status == "settled"]
        if stay.is_open or not standing:
            return
        operator = operator_of(uow, actor)
    ctx.platform.cancel(
        hospital_id=hospital_id,
        key=standing[-1].idempotency_key,
        cancel_key=reversal_key,
        operator=operator,
    )


def _hold_again(
    uow: UnitOfWork, deposits: list[Deposit], *, person_id: str, key: str, now: datetime
) -> tuple[Transfer, ...]:
    """A new hold for each deposit of what the reversed discharge took of it."""
    if not deposits:
        return ()
    specs = tuple(
        TransferSpec.hold(
            clearing_account(d.source),
            wallet_account(person_id),
            d.applied,
            "inpatient.deposit",
            timeout_seconds=None,
        )
        for d in deposits
    )
    request = PostingRequest(f"inpatient.rehold:{key}", specs)
    return post(repo=uow.ledger, request=request, now=now).transfers
