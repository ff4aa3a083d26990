"""Audit use cases: append an event on its own (staff login) and verify the whole chain."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from facepay.services.context import Storage
from facepay.supervision.audit import AuditEntry, VerifyReport, verify_chain


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


def verify_audit(*, ctx: Storage) -> VerifyReport:
    """Re-hash the whole stored chain and report the first bad entry, if any."""
    with ctx.uow() as uow:
        return verify_chain(uow.audit.iterate())


def audit_entries(*, ctx: Storage, from_seq: int = 1, limit: int = 100) -> list[AuditEntry]:
    """Entries from `from_seq` on, at most `limit`."""
    with ctx.uow() as uow:
        return list(itertools.islice(uow.audit.iterate(from_seq=from_seq), max(limit, 0)))
