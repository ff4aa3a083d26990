"""Audit use cases: append an event on its own (staff login), verify chains, page through one.

A hospital's staff see only their hospital's chain; the platform's operators choose any chain
and verify them all (facepay.supervision.audit explains the chains).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from facepay.services.context import Storage
from facepay.supervision.audit import AuditEntry, verify_chain


@dataclass(frozen=True)
class AuditVerification:
    """The outcome over one or more chains: `chain` names the first broken one, if any."""

    ok: bool
    entries_checked: int
    chains: list[str]
    chain: str | None = None
    first_bad_seq: int | None = None
    problem: str | None = None
    detail: str = ""


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


def verify_audit(*, ctx: Storage, chains: Sequence[str] | None = None) -> AuditVerification:
    """Re-hash `chains` (every stored chain when None) and report the first bad entry, if any."""
    checked = 0
    with ctx.uow() as uow:
        names = list(chains) if chains is not None else uow.audit.chains()
        for name in names:
            report = verify_chain(uow.audit.iterate(chain=name))
            checked += report.entries_checked
            if not report.ok:
                return AuditVerification(
                    False,
                    checked,
                    names,
                    name,
                    report.first_bad_seq,
                    report.problem,
                    report.detail,
                )
    return AuditVerification(True, checked, names)


def audit_entries(
    *, ctx: Storage, chain: str, from_seq: int = 1, limit: int = 100
) -> list[AuditEntry]:
    """Entries of one chain from `from_seq` on, at most `limit`."""
    with ctx.uow() as uow:
        found = uow.audit.iterate(chain=chain, from_seq=from_seq)
        return list(itertools.islice(found, max(limit, 0)))
