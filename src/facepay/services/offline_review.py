"""The site's review of offline vouchers: read them, and decide the quarantined ones.

`post` runs the same authoritative settlement as a sync (facepay.services.offline_settlement),
without the chain check; a voucher quarantined `chain_broken` that is the next one of its chain
also takes its place there, so that the vouchers held behind it are decided at once. `reject`
writes the voucher off: no settlement, the cash the terminal collected is refund due. The
voucher keeps its status `quarantined` (and its reason); the review is recorded beside it.
Every read and decision stays inside the caller's site.
"""

from __future__ import annotations

from dataclasses import replace

from facepay.hospital.offline import DifferenceKind, OfflineVoucherRecord, ReviewDecision
from facepay.services.context import Services
from facepay.services.offline_settlement import refund_due, settle_voucher
from facepay.services.offline_sync import release_held
from facepay.services.repositories import PageKey
from facepay.services.support import audit, require_hospital
from facepay.shared.errors import Conflict, InvalidInput, NotFound

MAX_PAGE = 200
MAX_NOTE = 300


def list_vouchers(
    *,
    ctx: Services,
    hospital_id: str,
    status: str | None,
    terminal_id: str | None,
    after: PageKey | None,
    limit: int,
) -> list[OfflineVoucherRecord]:
    """A page of the site's vouchers, oldest received first."""
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        return uow.offline.vouchers(
            hospital_id,
            status=status,
            terminal_id=terminal_id,
            after=after,
            limit=min(limit, MAX_PAGE),
        )


def get_voucher(*, ctx: Services, hospital_id: str, voucher_id: str) -> OfflineVoucherRecord:
    """One voucher of the site (NotFound for another site's, whether it exists or not)."""
    with ctx.uow() as uow:
        found = uow.offline.voucher(voucher_id)
    if found is None or found.hospital_id != hospital_id:
        raise NotFound("no such voucher")
    return found


def review_voucher(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    voucher_id: str,
    decision: ReviewDecision,
    note: str,
) -> OfflineVoucherRecord:
    """Post or reject a quarantined voucher of the site, once."""
    if decision not in ("post", "reject"):
        raise InvalidInput("decision: post or reject", code="bad_review")
    if len(note) > MAX_NOTE or not note.isprintable():
        raise InvalidInput(f"note: at most {MAX_NOTE} printable characters", code="bad_review")
    now = ctx.clock.now()
    chain_moved = False
    with ctx.uow() as uow:
        found = uow.offline.voucher(voucher_id)
        if found is None or found.hospital_id != hospital_id:
            raise NotFound("no such voucher")
        state = uow.offline.lock_sync(found.terminal_id)
        record = uow.offline.voucher(voucher_id)  # re-read under the chain lock
        assert record is not None
        if record.status != "quarantined" or record.review is not None:
            raise Conflict(
                "only a quarantined voucher not reviewed yet can be reviewed",
                code="voucher_not_reviewable",
            )
        if decision == "post":
            outcome = settle_voucher(ctx, uow, record, actor=actor, now=now)
            record = replace(
                record,
                settlement_id=outcome.settlement_id,
                difference_kind=outcome.difference_kind,
                difference_fen=outcome.difference_fen,
                message=outcome.message,
            )
            if record.reason == "chain_broken" and record.counter == state.last_counter + 1:
                uow.offline.save_sync(
                    replace(state, last_counter=record.counter, last_hash=record.hash)
                )
                chain_moved = True
        else:
            refund_due(uow, record, amount=record.cash_collected_fen, key="reject", now=now)
            kind: DifferenceKind = "refund_due" if record.cash_collected_fen else "none"
            record = replace(
                record,
                difference_kind=kind,
                difference_fen=record.cash_collected_fen,
                message="This payment was not accepted: what you paid is refunded at the window.",
            )
        record = replace(
            record, review=decision, reviewed_by=actor, review_note=note or None, decided_at=now
        )
        uow.offline.save_voucher(record)
        audit(
            ctx,
            uow,
            actor=actor,
            action="offline.voucher_review",
            subject=record.id,
            details={
                "hospital": hospital_id,
                "terminal": record.terminal_id,
                "decision": decision,
                "reason": record.reason,
                "settlement": record.settlement_id,
                "difference": record.difference_kind,
                "difference_fen": record.difference_fen,
                "note": note,
            },
        )
        uow.commit()
    if chain_moved:
        release_held(ctx, record.terminal_id, actor=actor)
    return record
