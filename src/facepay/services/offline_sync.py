"""Offline vouchers uploaded by a terminal, each decided exactly once.

Every voucher is decided in its own transaction, under the lock of its terminal's chain row
(`offline_sync_state`, FOR UPDATE), so that two uploads of the same vouchers at once - two
worker processes, two servers - decide each voucher once; the voucher id (primary key) and the
partial unique index on (terminal, counter) of the vouchers not quarantined are the database's
own guard behind that lock. The checks, in order:

1. the voucher id was seen: the same bytes replay the stored result (`replayed`); other bytes
   under a taken id are refused (`duplicate_id`, nothing stored);
2. the voucher's terminal is of the caller's site (else `foreign_terminal`, nothing stored: a
   site never writes into another site's review queue);
3. its signature verifies with that terminal's key (`signature_bad`), and the terminal is active
   (`terminal_revoked`);
4. the chain: a counter already used is `counter_reused`; a counter beyond the next one is
   `held` (`counter_gap`) and decided as soon as its predecessor is, in the same request; a
   `prev_hash` other than the last voucher's hash is `chain_broken` (and the chain waits for
   review). From here on the voucher has taken its place in the chain, whatever follows;
5. what was issued: the library version (`library_not_issued`) and limits version
   (`limits_not_issued`) were issued to this terminal; the bill is within those limits and below
   the face-payment limit (`over_limit`); it was uploaded within `max_upload_age_seconds`
   (`upload_too_late`);
6. the evidence: a face match of a template the issued library held for this person, scored at
   or above the threshold (and the margin over the runner-up), liveness passed
   (`evidence_rejected`); the bill is that person's and of that total (`bill_mismatch`);
7. the authoritative settlement (facepay.services.offline_settlement).

A quarantined voucher moves no money; it waits for a site admin's review (offline_review).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from facepay.access.rbac import Principal
from facepay.hospital.offline import DifferenceKind, OfflineVoucherRecord, SyncState, VoucherStatus
from facepay.hospital.tenants import TerminalRecord
from facepay.services.context import Services
from facepay.services.offline_limits import site_face_limit
from facepay.services.offline_settlement import settle_voucher
from facepay.services.ports import UnitOfWork
from facepay.services.support import audit, face_pay_limit, require_hospital
from facepay.shared.errors import InvalidInput
from facepay.terminal.protocol import (
    MAX_DOCUMENT_BYTES,
    Voucher,
    digest,
    open_voucher,
    peek_voucher,
    score_units,
    unb64,
)

MAX_VOUCHERS = 50
MESSAGES = {
    "duplicate_id": "Another voucher was received under this id: this one is refused.",
    "foreign_terminal": "This voucher is not of a terminal of this site.",
    "counter_gap": "Waiting for the terminal's earlier vouchers.",
}
REVIEW_MESSAGE = "Kept for review by the site: the payment is not confirmed yet."


@dataclass(frozen=True)
class VoucherResult:
    """What one uploaded voucher became (the wire's OfflineVoucherResult)."""

    voucher_id: str
    counter: int
    status: VoucherStatus
    replayed: bool
    reason: str | None
    settlement_id: str | None
    difference_kind: DifferenceKind
    difference_fen: int
    person_id: str | None
    message: str


def result_of(record: OfflineVoucherRecord, *, replayed: bool) -> VoucherResult:
    """The stored outcome of a voucher."""
    return VoucherResult(
        voucher_id=record.id,
        counter=record.counter,
        status=record.status,
        replayed=replayed,
        reason=record.reason,
        settlement_id=record.settlement_id,
        difference_kind=record.difference_kind,
        difference_fen=record.difference_fen,
        person_id=record.person_id,
        message=record.message,
    )


def _refused(claimed: Voucher, reason: str) -> VoucherResult:
    return VoucherResult(
        claimed.id, claimed.counter, "quarantined", False, reason, None, "none", 0, None,
        MESSAGES[reason],
    )  # fmt: skip


@dataclass(frozen=True)
class _Upload:
    claimed: Voucher
    signed: dict[str, Any]
    hash: str


def sync_vouchers(
    *, ctx: Services, caller: Principal, vouchers: list[object]
) -> list[VoucherResult]:
    """Decide each voucher once, in the order sent; held ones are decided when their
    predecessor is. Malformed input refuses the whole request before anything is decided."""
    uploads = _parse(vouchers)
    results: dict[str, VoucherResult] = {}
    for upload in uploads:
        if upload.claimed.id in results and results[upload.claimed.id].status != "held":
            results[upload.claimed.id] = replace(results[upload.claimed.id], replayed=True)
            continue
        outcome, terminal_id = _decide_upload(ctx, caller, upload)
        results[upload.claimed.id] = outcome
        # A replayed held voucher retries the release too: its predecessor may have been
        # decided by a request that ended before it could release it.
        if terminal_id is not None and (outcome.status != "held" or outcome.replayed):
            for released in release_held(ctx, terminal_id, actor=caller.actor):
                results[released.voucher_id] = released
    return [results[upload.claimed.id] for upload in uploads]


def _parse(vouchers: list[object]) -> list[_Upload]:
    if not 1 <= len(vouchers) <= MAX_VOUCHERS:
        raise InvalidInput(
            f"send 1 to {MAX_VOUCHERS} vouchers at a time", code="offline_document_malformed"
        )
    uploads = []
    for signed in vouchers:
        claimed = peek_voucher(signed)
        assert isinstance(signed, dict)  # peek_voucher refuses anything else
        data = unb64(signed.get("payload"), "payload")
        if len(json.dumps(signed)) > 2 * MAX_DOCUMENT_BYTES:
            raise InvalidInput("a voucher is too large", code="offline_document_malformed")
        uploads.append(_Upload(claimed, signed, digest(data)))
    return uploads


def _decide_upload(
    ctx: Services, caller: Principal, upload: _Upload
) -> tuple[VoucherResult, str | None]:
    """One voucher in one transaction; the terminal whose chain may have moved (or None)."""
    claimed = upload.claimed
    now = ctx.clock.now()
    with ctx.uow() as uow:
        site = require_hospital(uow, caller.hospital)
        if (seen := _seen(uow, upload, site.id)) is not None:
            return seen, claimed.terminal_id if seen.status == "held" and seen.replayed else None
        terminal = uow.tenants.terminal(claimed.terminal_id)
        if terminal is None or terminal.hospital_id != site.id or claimed.hospital_id != site.id:
            audit(
                ctx,
                uow,
                actor=caller.actor,
                action="offline.voucher_refused",
                subject=claimed.id,
                details={"hospital": site.id, "terminal": claimed.terminal_id},
            )
            uow.commit()
            return _refused(claimed, "foreign_terminal"), None
        state = uow.offline.lock_sync(terminal.id)
        if (seen := _seen(uow, upload, site.id)) is not None:  # decided while we waited
            return seen, terminal.id
        record = _new_record(upload, now)
        try:
            voucher, _ = open_voucher(upload.signed, terminal.public_key)
        except InvalidInput:
            record = _quarantine(record, "signature_bad", now)
        else:
            record = decide(
                ctx,
                uow,
                terminal=terminal,
                state=state,
                voucher=voucher,
                record=record,
                actor=caller.actor,
                now=now,
            )
        uow.offline.add_voucher(record)
        _audit(ctx, uow, record, actor=caller.actor)
        uow.commit()
    return result_of(record, replayed=False), terminal.id


def _seen(uow: UnitOfWork, upload: _Upload, site_id: str) -> VoucherResult | None:
    found = uow.offline.voucher(upload.claimed.id)
    if found is None:
        return None
    if found.hospital_id != site_id:
        return _refused(upload.claimed, "foreign_terminal")
    if found.hash != upload.hash:
        return _refused(upload.claimed, "duplicate_id")
    return result_of(found, replayed=True)


def _new_record(upload: _Upload, now: datetime) -> OfflineVoucherRecord:
    c = upload.claimed
    return OfflineVoucherRecord(
        id=c.id,
        terminal_id=c.terminal_id,
        hospital_id=c.hospital_id,
        counter=c.counter,
        prev_hash=c.prev_hash,
        hash=upload.hash,
        document=json.dumps(upload.signed, sort_keys=True),
        status="held",
        reason=None,
        person_id=c.person_id,
        bill_id=c.bill_id,
        cash_collected_fen=c.cash_collected_fen,
        created_at=c.created,
        received_at=now,
    )


def _quarantine(record: OfflineVoucherRecord, reason: str, now: datetime) -> OfflineVoucherRecord:
    return replace(
        record, status="quarantined", reason=reason, message=REVIEW_MESSAGE, decided_at=now
    )


def decide(
    ctx: Services,
    uow: UnitOfWork,
    *,
    terminal: TerminalRecord,
    state: SyncState,
    voucher: Voucher,
    record: OfflineVoucherRecord,
    actor: str,
    now: datetime,
) -> OfflineVoucherRecord:
    """Checks 3 (revoked) to 7 on a voucher whose signature verified, under the chain lock; the
    decided record (held, quarantined or posted), the chain row moved when it took its place."""
    if not terminal.active:
        return _quarantine(record, "terminal_revoked", now)
    live = uow.offline.live_with_counter(terminal.id, voucher.counter)
    if voucher.counter <= state.last_counter or (live is not None and live.id != voucher.id):
        return _quarantine(record, "counter_reused", now)
    if voucher.counter > state.last_counter + 1:
        return replace(record, status="held", reason="counter_gap", message=MESSAGES["counter_gap"])
    if voucher.prev_hash != state.last_hash:
        return _quarantine(record, "chain_broken", now)
    uow.offline.save_sync(replace(state, last_counter=voucher.counter, last_hash=record.hash))
    reason = _check_issued(ctx, uow, terminal, voucher, now)
    if reason is not None:
        return _quarantine(record, reason, now)
    outcome = settle_voucher(ctx, uow, record, actor=actor, now=now)
    return replace(
        record,
        status="posted",
        reason=outcome.reason,
        settlement_id=outcome.settlement_id,
        difference_kind=outcome.difference_kind,
        difference_fen=outcome.difference_fen,
        message=outcome.message,
        decided_at=now,
    )


def _check_issued(
    ctx: Services, uow: UnitOfWork, terminal: TerminalRecord, voucher: Voucher, now: datetime
) -> str | None:
    """Checks 5 and 6: the reason to quarantine, or None."""
    issues = uow.offline.issues(terminal.id, voucher.library_version)
    issue = next((i for i in issues if i.limits_version == voucher.limits_version), None)
    if issue is None:
        return "limits_not_issued" if issues else "library_not_issued"
    posted = uow.bills.get(voucher.bill_id, terminal.hospital_id)
    if posted is None or (posted.person_id, posted.total) != (
        voucher.person_id,
        voucher.bill_total_fen,
    ):
        return "bill_mismatch"
    site = require_hospital(uow, terminal.hospital_id)
    limits, total = issue.limits, voucher.bill_total_fen
    ceiling = min(face_pay_limit(ctx, posted.point_of_sale), site_face_limit(ctx, site))
    too_much = total > limits.per_payment_fen or voucher.cash_collected_fen > total
    if not limits.enabled or too_much or total >= ceiling:
        return "over_limit"
    if now - voucher.created > timedelta(seconds=limits.max_upload_age_seconds):
        return "upload_too_late"
    return None if _evidence_holds(ctx, voucher, issue.templates) else "evidence_rejected"


def _evidence_holds(ctx: Services, voucher: Voucher, templates: dict[str, str]) -> bool:
    """A face match of an issued template of this person, above threshold and margin, live."""
    e = voucher.evidence
    score, runner_up, liveness = e.get("score"), e.get("runner_up_score"), e.get("liveness")
    if e.get("method") != "face" or templates.get(str(e.get("template_id"))) != voucher.person_id:
        return False
    if not isinstance(score, int) or not _units(score):
        return False
    if score < score_units(ctx.settings.identify_threshold):
        return False
    if runner_up is not None and (
        not isinstance(runner_up, int)
        or not _units(runner_up)
        or score - runner_up < score_units(ctx.settings.identify_margin)
    ):
        return False
    return isinstance(liveness, dict) and liveness.get("passed") is True


def _units(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 1_000_000


def release_held(ctx: Services, terminal_id: str, *, actor: str) -> list[VoucherResult]:
    """Decide the held vouchers that now follow the terminal's chain, one transaction each."""
    released: list[VoucherResult] = []
    while True:
        now = ctx.clock.now()
        with ctx.uow() as uow:
            state = uow.offline.lock_sync(terminal_id)
            held = uow.offline.live_with_counter(terminal_id, state.last_counter + 1)
            terminal = uow.tenants.terminal(terminal_id)
            if held is None or held.status != "held" or terminal is None:
                return released
            voucher, _ = open_voucher(json.loads(held.document), terminal.public_key)
            record = decide(
                ctx,
                uow,
                terminal=terminal,
                state=state,
                voucher=voucher,
                record=held,
                actor=actor,
                now=now,
            )
            if record.status == "held":  # cannot happen: its counter is the next one
                return released
            uow.offline.save_voucher(record)
            _audit(ctx, uow, record, actor=actor)
            uow.commit()
        released.append(result_of(record, replayed=False))
        if record.status == "quarantined" and record.reason in CHAIN_STOPS:
            return released


CHAIN_STOPS = frozenset({"terminal_revoked", "counter_reused", "chain_broken"})
"""Reasons a voucher did not take its place in the chain (the next one stays held)."""


def _audit(ctx: Services, uow: UnitOfWork, record: OfflineVoucherRecord, *, actor: str) -> None:
    audit(
        ctx,
        uow,
        actor=actor,
        action=f"offline.voucher_{record.status}",
        subject=record.id,
        details={
            "hospital": record.hospital_id,
            "terminal": record.terminal_id,
            "counter": record.counter,
            "reason": record.reason,
            "person": record.person_id,
            "bill": record.bill_id,
            "cash_fen": record.cash_collected_fen,
            "settlement": record.settlement_id,
            "difference": record.difference_kind,
            "difference_fen": record.difference_fen,
        },
    )
