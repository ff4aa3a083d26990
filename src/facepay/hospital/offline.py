"""What the server keeps about offline payment (facepay.services.offline_*): plain records.

- `SiteOfflineLimits`: a site's `OfflineLimits` and its version (a new one on every change).
- `OfflineIssue`: one offline package as it was issued to a terminal: the limits and library
  versions, and which templates (of which persons) the library held, so that a voucher is
  checked against what was really issued.
- `SyncState`: how far a terminal's voucher chain has been posted (last counter and hash).
- `OfflineVoucherRecord`: one voucher received, and its outcome (the result a replay returns).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from facepay.terminal.protocol import GENESIS, OfflineLimits

VoucherStatus = Literal["posted", "held", "quarantined"]
DifferenceKind = Literal["none", "arrears", "refund_due"]
ReviewDecision = Literal["post", "reject"]


@dataclass(frozen=True)
class SiteOfflineLimits:
    """A site's offline limits and the version that names them."""

    limits: OfflineLimits
    version: str
    updated_at: datetime | None = None
    updated_by: str | None = None


@dataclass(frozen=True)
class OfflineIssue:
    """A package issued to a terminal (one row per terminal, library and limits version)."""

    terminal_id: str
    hospital_id: str
    library_version: str
    limits_version: str
    limits: OfflineLimits
    templates: dict[str, str]
    """template id -> person id: every template the library held."""
    library_sha256: str
    issued_at: datetime
    last_issued_at: datetime


@dataclass(frozen=True)
class SyncState:
    """The last voucher of a terminal's chain that took its place (GENESIS before any)."""

    terminal_id: str
    last_counter: int = 0
    last_hash: str = GENESIS


@dataclass(frozen=True)
class OfflineVoucherRecord:
    """A received voucher, its signed document, and what became of it."""

    id: str
    terminal_id: str
    hospital_id: str
    counter: int
    prev_hash: str
    hash: str
    document: str
    """The signed voucher as JSON ({payload, signature, key_id}), kept as evidence."""
    status: VoucherStatus
    reason: str | None
    person_id: str
    bill_id: str
    cash_collected_fen: int
    created_at: datetime
    """The terminal's clock when it took the payment (may be wrong)."""
    received_at: datetime
    settlement_id: str | None = None
    difference_kind: DifferenceKind = "none"
    difference_fen: int = 0
    message: str = ""
    decided_at: datetime | None = None
    review: ReviewDecision | None = None
    reviewed_by: str | None = None
    review_note: str | None = None
