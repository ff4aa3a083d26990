"""What a paid bill sets going: dispensing orders for the pharmacy, service requests for exams
and lab tests, and the results that come back for them.

Pure decisions on frozen records: each change returns a new record or raises the refusal. The
use cases (facepay.services.dispensing, facepay.services.exams) load, decide, save and audit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal

from facepay.hospital.bills import OrderKind, PostedBill
from facepay.shared.errors import Conflict, InvalidInput

DISPENSED_AT_PHARMACY: frozenset[OrderKind] = frozenset({"drug", "material", "other"})
"""What a pharmacy's own bill (point of sale `pharmacy`) hands out at its window."""
REQUESTED_KINDS: frozenset[OrderKind] = frozenset({"exam", "lab"})

DispensingStatus = Literal["queued", "partial", "done"]
LineState = Literal["waiting", "partial", "handed", "returned"]


@dataclass(frozen=True)
class DispensingLine:
    """One bill line at the pharmacy window: how much was ordered, handed over, returned."""

    code: str
    name: str
    quantity: Decimal
    amount: int
    """The line's fen on the bill (unit price x quantity, rounded)."""
    handed: Decimal = Decimal(0)
    returned: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.handed <= self.quantity:
            raise InvalidInput(f"line {self.code}: handed over out of range")
        if self.returned and self.handed:
            raise InvalidInput(f"line {self.code}: a line handed over is never returned")

    @property
    def remaining(self) -> Decimal:
        """What is still to hand over (nothing once returned)."""
        return Decimal(0) if self.returned else self.quantity - self.handed

    @property
    def state(self) -> LineState:
        """waiting, partial (some handed over), handed (all of it) or returned."""
        if self.returned:
            return "returned"
        if self.handed == self.quantity:
            return "handed"
        return "partial" if self.handed else "waiting"


@dataclass(frozen=True)
class DispensingOrder:
    """The medicines of one paid bill for one pharmacy window, collected in one or more visits."""

    id: str
    hospital_id: str
    bill_id: str
    person_id: str
    window: str
    lines: tuple[DispensingLine, ...]
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        if not self.lines:
            raise InvalidInput("a dispensing order has lines")

    @property
    def status(self) -> DispensingStatus:
        """queued (nothing handed over yet), partial, or done (nothing left to hand over)."""
        if all(line.remaining == 0 for line in self.lines):
            return "done"
        touched = any(line.handed or line.returned for line in self.lines)
        return "partial" if touched else "queued"

    def line(self, code: str) -> DispensingLine:
        """The line `code` (InvalidInput if the order has none)."""
        for line in self.lines:
            if line.code == code:
                return line
        raise InvalidInput(f"line {code} is not on this order", code="unknown_order_line")

    def collect(self, handed: Mapping[str, Decimal] | None, *, at: datetime) -> DispensingOrder:
        """Record what the pharmacist handed over: every remaining quantity (None) or these
        quantities of these lines. Refused when nothing is left, or more than is left."""
        if self.status == "done":
            raise Conflict(
                "everything on this order was handed over or returned", code="order_done"
            )
        if handed is None:
            wanted = {line.code: line.remaining for line in self.lines if line.remaining}
        else:
            wanted = dict(handed)
        for code, quantity in wanted.items():
            line = self.line(code)
            if line.returned:
                raise Conflict(f"line {code} was returned", code="line_returned")
            if quantity <= 0 or quantity > line.remaining:
                raise InvalidInput(
                    f"line {code}: hand over more than 0 and at most {line.remaining}",
                    code="bad_handed_quantity",
                )
        lines = tuple(
            replace(line, handed=line.handed + wanted[line.code]) if wanted.get(line.code) else line
            for line in self.lines
        )
        return replace(self, lines=lines, updated_at=at)

    def take_back(self, codes: Sequence[str], *, at: datetime) -> DispensingOrder:
        """Mark lines returned (not dispensed, to be refunded); never a line any of which was
        handed over, nor one returned already."""
        if not codes or len(set(codes)) != len(codes):
            raise InvalidInput("name each line to return once", code="unknown_order_line")
        for code in codes:
            line = self.line(code)
            if line.returned:
                raise Conflict(f"line {code} was returned already", code="line_returned")
            if line.handed:
                raise Conflict(f"line {code} was handed over", code="line_handed_over")
        wanted = set(codes)
        lines = tuple(
            replace(line, returned=True) if line.code in wanted else line for line in self.lines
        )
        return replace(self, lines=lines, updated_at=at)


def dispensing_groups(paid: PostedBill, default_window: str) -> dict[str, list[str]]:
    """The bill's dispensed line codes by pharmacy window: drug lines of any bill, and at a
    pharmacy's own point of sale every line that is not an exam, test or stay. A line without a
    window goes to the site's default window."""
    kinds = DISPENSED_AT_PHARMACY if paid.point_of_sale == "pharmacy" else frozenset({"drug"})
    groups: dict[str, list[str]] = {}
    for line in paid.bill.lines:
        order = paid.order_of(line.code)
        if order.kind in kinds:
            groups.setdefault(order.window or default_window, []).append(line.code)
    return groups


# --- Exams and lab tests ---------------------------------------------------------------------

RequestStatus = Literal["requested", "checked_in", "done", "reported"]
Conclusion = Literal["normal", "abnormal", "critical"]
CONCLUSIONS: tuple[Conclusion, ...] = ("normal", "abnormal", "critical")
MAX_SUMMARY = 4_000
MAX_IMAGE_REF = 512
_DICOM_UID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_URL = re.compile(r"^(https?|dicomweb|wado)://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[^\s]*)?$")
_BLOB = re.compile(r"[A-Za-z0-9+/=_\-]{200,}")
"""A run of 200 base64 characters: an image pasted in, not a reference to one."""


def check_image_reference(ref: str) -> str:
    """A DICOM Study Instance UID (at most 64 characters) or an http(s) / DICOMweb / WADO URL
    of at most 512 characters: where the images are, never the images themselves."""
    lowered = ref.strip().lower()
    if lowered.startswith("data:") or ";base64," in lowered or _BLOB.search(ref):
        raise InvalidInput(
            "image_ref refers to images, it never carries them", code="embedded_image"
        )
    if len(ref) <= 64 and _DICOM_UID.match(ref):
        return ref
    if len(ref) <= MAX_IMAGE_REF and _URL.match(ref):
        return ref
    raise InvalidInput(
        "image_ref: a DICOM study UID or an http(s), dicomweb or wado URL", code="bad_image_ref"
    )


def check_summary(summary: str) -> str:
    """A report summary: 1 to 4,000 characters of text (line breaks allowed), no pasted data."""
    if not summary.strip() or len(summary) > MAX_SUMMARY:
        raise InvalidInput(f"summary: 1 to {MAX_SUMMARY} characters", code="bad_report")
    if not summary.replace("\n", "").replace("\t", "").isprintable():
        raise InvalidInput("summary: text without control characters", code="bad_report")
    if _BLOB.search(summary) or "data:" in summary.lower():
        raise InvalidInput("the summary is text, not embedded data", code="embedded_image")
    return summary


@dataclass(frozen=True)
class ExamResult:
    """What the LIS/PACS reported: a summary, a conclusion flag, where the images are."""

    summary: str
    conclusion: Conclusion
    image_ref: str | None
    performed_at: datetime
    recorded_at: datetime
    recorded_by: str

    def __post_init__(self) -> None:
        check_summary(self.summary)
        if self.conclusion not in CONCLUSIONS:
            raise InvalidInput("conclusion: normal, abnormal or critical", code="bad_report")
        if self.image_ref is not None:
            check_image_reference(self.image_ref)
        if self.performed_at > self.recorded_at:
            raise InvalidInput("performed_at is after now", code="bad_report")


@dataclass(frozen=True)
class ServiceRequest:
    """One paid exam or lab line on its department's worklist, from order to result."""

    id: str
    hospital_id: str
    bill_id: str
    line_code: str
    name: str
    kind: OrderKind
    department: str
    ordered_by: str
    person_id: str
    status: RequestStatus
    created_at: datetime
    checked_in_at: datetime | None = None
    done_at: datetime | None = None
    result: ExamResult | None = None

    @property
    def ready_at(self) -> datetime | None:
        """When the result came back (None until then)."""
        return self.result.recorded_at if self.result else None

    def check_in(self, *, at: datetime) -> ServiceRequest:
        """The patient is at the exam room."""
        if self.status != "requested":
            raise Conflict(f"the request is {self.status}", code="request_checked_in")
        return replace(self, status="checked_in", checked_in_at=at)

    def complete(self, *, at: datetime) -> ServiceRequest:
        """The department performed it (the patient was checked in first)."""
        if self.status == "requested":
            raise Conflict("the patient has not checked in", code="request_not_checked_in")
        if self.status != "checked_in":
            raise Conflict(f"the request is {self.status}", code="request_done")
        return replace(self, status="done", done_at=at)

    def report(self, result: ExamResult) -> ServiceRequest:
        """The result, once, after the department marked the request done."""
        if self.status == "reported":
            raise Conflict("a result was recorded already", code="result_recorded")
        if self.status != "done":
            raise Conflict("the request is not done yet", code="request_not_done")
        return replace(self, status="reported", result=result)
