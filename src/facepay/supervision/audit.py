"""Hash-chained audit log entries and their verification.

There is one chain per hospital and one for the platform: an entry belongs to the chain of the
hospital its `details["hospital"]` names (hashed with the entry, so the membership cannot be
edited unnoticed), else to the platform's (hospital registration, the insured-person registry,
platform staff). A hospital's auditors read and verify their own chain and learn nothing of
another's; the platform's operators verify them all. Entries recorded before the chains were
split (migration 0005) stay in the platform chain, where they were hashed.

Each entry's `hash` is SHA-256 (lower-case hex) of the canonical JSON encoding (UTF-8, keys sorted,
no whitespace, no ASCII escaping) of the object
`{"action", "actor", "at", "details", "prev_hash", "seq", "subject"}`; `prev_hash` is the previous
entry's `hash`, 64 zeros for seq 1. Editing, deleting or reordering an entry breaks the chain at
that point; rewriting the whole tail is only caught against a trusted head (see audit_checkpoint).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeAlias

from facepay.shared.errors import InvalidInput
from facepay.supervision.redaction import check_safe_details

JsonValue: TypeAlias = bool | int | str | list["JsonValue"] | dict[str, "JsonValue"] | None

GENESIS_HASH = "0" * 64
PLATFORM_CHAIN = "platform"
"""The chain of entries that belong to no hospital; no hospital may take this id."""
_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[\w.:@/\-]{1,200}$")


@dataclass(frozen=True)
class AuditEntry:
    """One link of the chain. Build it with `chain_entry`, never by hand."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, JsonValue]
    prev_hash: str
    hash: str
    chain: str = PLATFORM_CHAIN
    """Which chain the entry links into (`chain_of` its details); not part of the hash."""


def chain_of(details: Mapping[str, object]) -> str:
    """The chain an entry with these details belongs to: its hospital's, else the platform's."""
    hospital = details.get("hospital")
    return hospital if isinstance(hospital, str) and hospital else PLATFORM_CHAIN


@dataclass(frozen=True)
class AuditHead:
    """A position in the chain: the entry at `seq` has hash `hash` (seq 0 is the genesis)."""

    seq: int
    hash: str


GENESIS = AuditHead(seq=0, hash=GENESIS_HASH)


def canonical_json(value: object) -> bytes:
    """Encode `value` as canonical JSON bytes: sorted keys, no whitespace, UTF-8."""
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return text.encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise InvalidInput(f"not canonical JSON: {exc}", code="bad_audit_entry") from exc


def format_at(at: datetime) -> str:
    """Render an aware datetime as `2026-11-23T23:40:00.000000Z` (UTC, microseconds)."""
    if at.tzinfo is None:
        raise InvalidInput("audit time must be timezone-aware", code="bad_audit_entry")
    return at.astimezone(UTC).strftime(_AT_FORMAT)


def _hashed_fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": format_at(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
    }


def entry_hash(entry: AuditEntry) -> str:
    """Recompute the hash an entry should carry."""
    return hashlib.sha256(canonical_json(_hashed_fields(entry))).hexdigest()


def chain_entry(
    *,
    prev: AuditHead,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, object],
) -> AuditEntry:
    """Build the entry that follows `prev`, after checking that details carry no biometric data."""
    for label, name in (("actor", actor), ("action", action), ("subject", subject)):
        if not _NAME.fullmatch(name):
            raise InvalidInput(f"{label} must be 1-200 id characters", code="bad_audit_entry")
    check_safe_details({"actor": actor, "action": action, "subject": subject})
    check_safe_details(details)
    # A JSON round trip deep-copies the details so that later mutation cannot alter the entry.
    frozen_details = json.loads(canonical_json(dict(details)))
    at = datetime.strptime(format_at(at), _AT_FORMAT).replace(tzinfo=UTC)
    chain = chain_of(frozen_details)
    draft = AuditEntry(
        prev.seq + 1, at, actor, action, subject, frozen_details, prev.hash, "", chain
    )
    return replace(draft, hash=entry_hash(draft))


def entry_to_json(entry: AuditEntry) -> str:
    """Serialise an entry (all fields, hash included) as one canonical JSON line."""
    return canonical_json({**_hashed_fields(entry), "hash": entry.hash}).decode("utf-8")


def entry_from_json(line: str) -> AuditEntry:
    """Parse a line written by `entry_to_json`; anything not byte-identical on re-encoding fails."""
    try:
        raw = json.loads(line)
        entry = AuditEntry(
            seq=raw["seq"],
            at=datetime.strptime(raw["at"], _AT_FORMAT).replace(tzinfo=UTC),
            actor=raw["actor"],
            action=raw["action"],
            subject=raw["subject"],
            details=raw["details"],
            prev_hash=raw["prev_hash"],
            hash=raw["hash"],
        )
        ok = (
            set(raw) == {*_hashed_fields(entry), "hash"}
            and _well_typed(entry)
            and entry_to_json(entry) == line
        )
    except (ValueError, KeyError, TypeError, AttributeError, InvalidInput) as exc:
        raise InvalidInput(f"malformed audit line: {exc}", code="bad_audit_entry") from exc
    if not ok:
        # Re-encoding must reproduce the line exactly, so that no edit can hide in the encoding.
        raise InvalidInput("audit line is not in canonical form", code="bad_audit_entry")
    return entry


def _well_typed(entry: AuditEntry) -> bool:
    texts = (entry.actor, entry.action, entry.subject, entry.prev_hash, entry.hash)
    seq_ok = isinstance(entry.seq, int) and not isinstance(entry.seq, bool)
    return seq_ok and all(isinstance(t, str) for t in texts) and isinstance(entry.details, dict)


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of `verify_chain`; `problem` is a stable code, `detail` says where and why."""

    ok: bool
    entries_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    detail: str = ""


def verify_chain(
    entries: Iterable[AuditEntry], *, start: AuditHead = GENESIS, head: AuditHead | None = None
) -> VerifyReport:
    """Check links, hashes and numbering from `start`; with a trusted `head`, catch truncation.
    Entries of a hospital's chain must also name that hospital in their hashed details."""
    last, checked = start, 0
    for entry in entries:
        found = _problem(entry, last, head)
        if found is not None:
            return VerifyReport(False, checked, *found)
        last, checked = AuditHead(entry.seq, entry.hash), checked + 1
    if head is not None and last.seq < head.seq:
        detail = f"chain ends at {last.seq}, head is {head.seq}"
        return VerifyReport(False, checked, last.seq + 1, "truncated", detail)
    return VerifyReport(True, checked)


def _problem(
    entry: AuditEntry, last: AuditHead, head: AuditHead | None
) -> tuple[int, str, str] | None:
    """(seq, problem, detail) of what is wrong with `entry` following `last`, or None."""
    expected = last.seq + 1
    if entry.seq != expected:
        return expected, "bad_seq", f"expected seq {expected}, found {entry.seq}"
    if not _HEX64.fullmatch(entry.hash) or not hmac.compare_digest(entry.hash, entry_hash(entry)):
        return entry.seq, "hash_mismatch", f"entry {entry.seq} was altered"
    if entry.prev_hash != last.hash:
        return entry.seq, "broken_link", f"entry {entry.seq} does not follow {last.seq}"
    if entry.chain != PLATFORM_CHAIN and chain_of(entry.details) != entry.chain:
        return entry.seq, "wrong_chain", f"entry {entry.seq} belongs to another chain"
    if head is not None and entry.seq == head.seq and entry.hash != head.hash:
        return entry.seq, "head_mismatch", f"entry {entry.seq} differs from trusted head"
    return None


def verify_lines(
    lines: Iterable[str], *, start: AuditHead = GENESIS, head: AuditHead | None = None
) -> VerifyReport:
    """`verify_chain` over exported JSON lines; an unreadable line is reported as `malformed`."""
    entries: list[AuditEntry] = []
    for line in lines:
        try:
            entries.append(entry_from_json(line.rstrip("\n")))
        except InvalidInput as exc:
            report = verify_chain(entries, start=start)
            if not report.ok:
                return report
            seq = entries[-1].seq + 1 if entries else start.seq + 1
            return VerifyReport(False, report.entries_checked, seq, "malformed", exc.message)
    return verify_chain(entries, start=start, head=head)
