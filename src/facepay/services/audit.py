"""Audit use cases: append an event on its own (staff login), write a signed checkpoint of every
chain, verify chains and checkpoints, page through one chain.

A hospital's staff see only their hospital's chain; the platform's operators choose any chain
and verify them all (facepay.supervision.audit explains the chains, audit_checkpoint the
checkpoints).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from facepay.services.context import Storage
from facepay.services.ports import UnitOfWork
from facepay.supervision.audit import AuditEntry, AuditHead, verify_chain
from facepay.supervision.audit_checkpoint import (
    Checkpoint,
    CheckpointProblem,
    CheckpointSigner,
    CheckpointVerifier,
    make_checkpoint,
    verify_checkpoints,
)


@dataclass(frozen=True)
class ChainVerification:
    """One chain's outcome: `first_bad_seq` is the first entry that cannot be trusted."""

    chain: str
    ok: bool
    entries_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class AuditVerification:
    """The outcome over one or more chains and the checkpoints. `chain`, `first_bad_seq`,
    `problem` and `detail` repeat the first broken chain's; `broken` lists every broken chain;
    `checkpoint_problem` is the first bad checkpoint, if any."""

    ok: bool
    entries_checked: int
    chains: list[str]
    chain: str | None = None
    first_bad_seq: int | None = None
    problem: str | None = None
    detail: str = ""
    broken: list[ChainVerification] = field(default_factory=list)
    checkpoints_checked: int = 0
    checkpoint_problem: CheckpointProblem | None = None


def record_event(
    *,
    ctx: Storage,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, object] | None = None,
) -> AuditEntry:
    """Append one entry in its own transaction (events that change nothing else)."""
    with ctx.uow() as uow:
        entry = ctx.audit_log(uow).record(
            actor=actor, action=action, subject=subject, details=details
        )
        uow.commit()
    return entry


def write_checkpoint(*, ctx: Storage, signer: CheckpointSigner) -> Checkpoint:
    """Sign the heads of every chain as they are now and store that checkpoint after the last
    one. Takes no chain's lock: sites go on appending while it runs (the server's upkeep may
    call it on a schedule; two callers at once queue, neither forks the checkpoints)."""
    with ctx.uow() as uow:
        previous = uow.audit.last_checkpoint()
        heads = uow.audit.heads()
        if previous is not None:
            # A chain a checkpoint named stays named even if its entries were since deleted.
            heads = {**{c: h for c, h in previous.heads.items() if c not in heads}, **heads}
        checkpoint = make_checkpoint(
            previous=previous, at=ctx.clock.now(), heads=heads, signer=signer
        )
        uow.audit.add_checkpoint(checkpoint)
        uow.commit()
    return checkpoint


def verify_audit(
    *,
    ctx: Storage,
    chains: Sequence[str] | None = None,
    verifier: CheckpointVerifier | None = None,
    key_id: str | None = None,
) -> AuditVerification:
    """Re-hash `chains` (every stored chain when None) and, given the checkpoint key's
    `verifier` and `key_id`, check every checkpoint and that each head it signed is still there
    with the same hash; report the first bad entry of each chain."""
    with ctx.uow() as uow:
        found = _checkpoints(uow, verifier, key_id)
        sound, checkpoint_problem = found if found else ([], None)
        names = list(chains) if chains is not None else _all_chains(uow, sound)
        reports = [_verify_one(uow, name, sound) for name in names]
    checked = sum(r.entries_checked for r in reports)
    broken = [r for r in reports if not r.ok]
    ok = not broken and checkpoint_problem is None
    first = broken[0] if broken else None
    return AuditVerification(
        ok=ok,
        entries_checked=checked,
        chains=names,
        chain=first.chain if first else None,
        first_bad_seq=first.first_bad_seq if first else None,
        problem=first.problem if first else None,
        detail=first.detail if first else "",
        broken=broken,
        checkpoints_checked=len(sound) + (checkpoint_problem is not None),
        checkpoint_problem=checkpoint_problem,
    )


def _checkpoints(
    uow: UnitOfWork, verifier: CheckpointVerifier | None, key_id: str | None
) -> tuple[list[Checkpoint], CheckpointProblem | None] | None:
    """The sound checkpoints and the first bad one; None when there is no verifier."""
    if verifier is None or key_id is None:
        return None
    return verify_checkpoints(uow.audit.checkpoints(), verifier=verifier, key_id=key_id)


def _all_chains(uow: UnitOfWork, checkpoints: list[Checkpoint]) -> list[str]:
    """Every stored chain, and every chain a checkpoint names (a chain deleted whole)."""
    named = {c for cp in checkpoints for c in cp.heads}
    return sorted(set(uow.audit.chains()) | named)


def _verify_one(uow: UnitOfWork, chain: str, checkpoints: list[Checkpoint]) -> ChainVerification:
    """The chain's own links and hashes, then each checkpoint's head of it, oldest first."""
    report = verify_chain(uow.audit.iterate(chain=chain))
    bad: tuple[int, str, str] | None = None
    if not report.ok:
        assert report.first_bad_seq is not None
        assert report.problem is not None
        bad = (report.first_bad_seq, report.problem, report.detail)
    trusted = 0  # the highest seq a checkpoint vouches for so far
    for cp in checkpoints:
        head = cp.heads.get(chain)
        if head is None or head.seq <= trusted:
            continue
        problem = _against_head(uow, chain, head, cp, trusted, report.entries_checked)
        if problem is not None:
            if bad is None or problem[0] < bad[0]:
                bad = problem
            break
        trusted = head.seq
    if bad is None:
        return ChainVerification(chain, True, report.entries_checked)
    return ChainVerification(chain, False, report.entries_checked, *bad)


def _against_head(  # noqa: PLR0917 - a private step of _verify_one
    uow: UnitOfWork, chain: str, head: AuditHead, cp: Checkpoint, trusted: int, stored: int
) -> tuple[int, str, str] | None:
    """(first untrusted seq, problem, detail) when the chain no longer holds `head`; `stored`
    is how many entries the chain holds when its own links are sound."""
    entry = uow.audit.entry(chain, head.seq)
    if entry is None:
        first_gone = min(max(stored, trusted) + 1, head.seq)
        detail = f"entries {first_gone} to {head.seq}, signed by checkpoint {cp.seq}, are gone"
        return first_gone, "truncated", detail
    if entry.hash != head.hash:
        # Everything after the last head a checkpoint still vouches for may have been rewritten.
        detail = (
            f"entry {head.seq} differs from checkpoint {cp.seq}; entries {trusted + 1} to "
            f"{head.seq} may have been rewritten"
        )
        return trusted + 1, "checkpoint_mismatch", detail
    return None


def audit_entries(
    *, ctx: Storage, chain: str, from_seq: int = 1, limit: int = 100
) -> list[AuditEntry]:
    """Entries of one chain from `from_seq` on, at most `limit`."""
    with ctx.uow() as uow:
        found = uow.audit.iterate(chain=chain, from_seq=from_seq)
        return list(itertools.islice(found, max(limit, 0)))
