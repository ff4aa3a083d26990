"""Emergency: a patient treated before anyone knows who they are, or before they can pay.

An emergency record is opened at the desk of one site with a temporary number (`ER-<day>-<n>`,
the n-th of that day at that site) for a patient who is unknown, or known but unable to pay now.
Charges accrue on the record as bill lines and, in the ledger, as the record's arrears: treatment
is never held back for payment. When the patient is identified the record is merged into the
person: its lines become one open bill of the person at the site (outpatient or inpatient as the
record says) and its arrears move to the person, until the bill is paid the normal way. A merged
record takes no more charges.

Face identification at the emergency desk searches the whole region (every site's site-only
templates too): the one place a site may match a face enrolled only elsewhere. It is therefore
staff-operated, needs a reason, and is audited; see docs/emergency.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from facepay.insurance.model import MAX_BILL_FEN, Bill, BillLine, VisitType
from facepay.shared.errors import Conflict, InvalidInput
from facepay.shared.money import round_half_up

ReasonCode = Literal["unconscious", "confused", "no_documents", "minor_alone", "other"]
REASON_CODES: tuple[ReasonCode, ...] = (
    "unconscious",
    "confused",
    "no_documents",
    "minor_alone",
    "other",
)
CaptureMode = Literal["cooperative", "assisted"]
CAPTURE_MODES: tuple[CaptureMode, ...] = ("cooperative", "assisted")
"""`cooperative`: the patient answers the liveness challenge as at a kiosk. `assisted`: the patient
cannot (unconscious, confused); staff film the face while moving the camera round it, and the
server decides liveness from checks that need no action from the patient (docs/emergency.md)."""
Sex = Literal["M", "F", "U"]
SEXES: tuple[Sex, ...] = ("M", "F", "U")
RecordStatus = Literal["open", "merged", "settled"]
"""`open`: takes charges; `merged`: its bill is the person's, unpaid; `settled`: bill paid."""

MAX_NOTE = 200
MAX_NOTES = 500
MAX_AGE = 130
MAX_RECORD_LINES = 500
"""Lines a record may hold in all (its merged bill is one bill)."""


def _text(value: str | None, what: str, limit: int) -> None:
    if value is None:
        return
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise InvalidInput(f"{what}: at most {limit} printable characters", code="bad_emergency")


@dataclass(frozen=True)
class EmergencyReason:
    """Why the desk identifies a patient by face across the region; `other` needs a note."""

    code: ReasonCode
    note: str | None = None

    def __post_init__(self) -> None:
        if self.code not in REASON_CODES:
            raise InvalidInput(
                f"reason: one of {', '.join(REASON_CODES)}", code="bad_emergency_reason"
            )
        _text(self.note, "note", MAX_NOTE)
        if self.code == "other" and not (self.note and self.note.strip()):
            raise InvalidInput("reason other needs a note", code="bad_emergency_reason")


@dataclass(frozen=True)
class EmergencyIdentification:
    """One region-wide face search at an emergency desk: who asked, why, how it was filmed, and
    whom it found (None: unknown). It proves identity for a merge once; it never pays."""

    id: str
    hospital_id: str
    actor: str
    reason: EmergencyReason
    mode: CaptureMode
    decision: Literal["match", "ambiguous", "no_match"]
    person_id: str | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    used_for: str | None = None


@dataclass(frozen=True)
class EmergencyRecord:
    """A patient at the emergency desk of one site: temporary number, what staff can tell, the
    person once known, and what has been charged (fen) so far."""

    id: str
    hospital_id: str
    number: str
    visit_type: VisitType
    sex: Sex
    estimated_age: int | None
    notes: str
    person_id: str | None
    status: RecordStatus
    opened_at: datetime
    opened_by: str
    charged_fen: int = 0
    line_count: int = 0
    merged_at: datetime | None = None
    merged_by: str | None = None
    bill_id: str | None = None

    def __post_init__(self) -> None:
        if self.visit_type not in ("outpatient", "inpatient"):
            raise InvalidInput("visit_type: outpatient or inpatient", code="bad_emergency")
        if self.sex not in SEXES:
            raise InvalidInput("sex: M, F or U (unknown)", code="bad_emergency")
        if self.estimated_age is not None and (
            isinstance(self.estimated_age, bool)
            or not isinstance(self.estimated_age, int)
            or not 0 <= self.estimated_age <= MAX_AGE
        ):
            raise InvalidInput(f"estimated_age: 0 to {MAX_AGE} years", code="bad_emergency")
        _text(self.notes, "notes", MAX_NOTES)
        if self.status not in ("open", "merged", "settled"):
            raise InvalidInput("status: open, merged or settled", code="bad_emergency")
        if (self.status == "open") != (self.bill_id is None):
            raise InvalidInput("a merged record has a bill, an open one none")

    @property
    def arrears_owner(self) -> str:
        """The owner of the record's arrears account: under its site, so the site's books list
        what each of its emergency records owes."""
        return f"{self.hospital_id}/{self.id}"

    def check_chargeable(self, lines: tuple[BillLine, ...]) -> int:
        """The fen `lines` add; Conflict once the record is merged or would grow past a bill."""
        if self.status != "open":
            raise Conflict(
                "this emergency record is merged: charge the person's bill instead",
                code="emergency_record_merged",
            )
        if not lines:
            raise InvalidInput("a charge has at least one line", code="bad_emergency")
        total = lines_total(lines)
        if total <= 0:
            raise InvalidInput("the charge comes to 0 fen", code="empty_bill")
        if (
            self.line_count + len(lines) > MAX_RECORD_LINES
            or self.charged_fen + total > MAX_BILL_FEN
        ):
            raise Conflict(
                f"a record holds at most {MAX_RECORD_LINES} lines: open another record",
                code="emergency_record_full",
            )
        return total


@dataclass(frozen=True)
class EmergencyCharge:
    """Lines charged to a record at once (one idempotency key), and the posting of their arrears."""

    id: str
    record_id: str
    hospital_id: str
    idempotency_key: str
    fingerprint: str
    lines: tuple[BillLine, ...]
    total: int
    posting_key: str
    charged_at: datetime
    actor: str


def lines_total(lines: tuple[BillLine, ...]) -> int:
    """Fen of the lines, rounded half-up per line as a bill does."""
    return sum(round_half_up(line.unit_price * line.quantity) for line in lines)


def record_number(day: date, seq: int) -> str:
    """`ER-20260504-0007`: the 7th emergency record of that day at the site."""
    if seq < 1:
        raise InvalidInput("record numbers count from 1")
    return f"ER-{day:%Y%m%d}-{seq:04d}"


def merged_bill(
    record: EmergencyRecord, charges: list[EmergencyCharge], *, hospital_tier: int
) -> Bill:
    """The person's bill of a record: every charge's lines in charge order, on the day the
    record was opened (the day of the visit or admission)."""
    lines = tuple(line for charge in sorted(charges, key=_order) for line in charge.lines)
    if not lines:
        raise Conflict("nothing was charged to this record", code="emergency_record_empty")
    if lines_total(lines) != record.charged_fen:
        raise Conflict("the record's charges do not add up", code="emergency_record_inconsistent")
    return Bill(
        visit_type=record.visit_type,
        hospital_tier=hospital_tier,
        service_date=record.opened_at.date(),
        lines=lines,
    )


def _order(charge: EmergencyCharge) -> tuple[datetime, str]:
    return charge.charged_at, charge.id


TIER_NUMBERS = {"primary": 1, "secondary": 2, "tertiary": 3}
"""A site's grade as the insurance bill's `hospital_tier`."""
