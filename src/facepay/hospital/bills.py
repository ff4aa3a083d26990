"""Bills as a hospital system posts them: the insurance `Bill`, whose patient, where it is paid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from facepay.insurance.model import Bill
from facepay.shared.errors import InvalidInput
from facepay.shared.money import round_half_up

BillStatus = Literal["open", "paid", "refunded", "cancelled"]
"""`cancelled`: the bill of a booking cancelled before its fee was paid; it cannot be paid."""
PointOfSale = Literal["hospital", "pharmacy"]
OrderKind = Literal["drug", "exam", "lab", "registration", "bed", "treatment", "material", "other"]
ORDER_KINDS: tuple[OrderKind, ...] = (
    "drug", "exam", "lab", "registration", "bed", "treatment", "material", "other",
)  # fmt: skip
MAX_LABEL = 60


def check_label(value: str, what: str) -> str:
    """A department or window name: 1 to 60 printable characters, no slash (it is a path
    segment of the worklist and window URLs) and no surrounding space."""
    if not (0 < len(value) <= MAX_LABEL) or not value.isprintable() or "/" in value:
        raise InvalidInput(f"{what}: 1 to {MAX_LABEL} printable characters without /")
    if value != value.strip():
        raise InvalidInput(f"{what}: no leading or trailing space")
    return value


@dataclass(frozen=True)
class LineOrder:
    """What the hospital ordered with one bill line, kept beside the insurance line (whose fields
    feed the settlement fingerprint): its kind, the department that performs it (exams, lab
    tests), the pharmacy window that hands it out (drugs) and the ordering doctor's staff id."""

    code: str
    kind: OrderKind = "other"
    department: str | None = None
    window: str | None = None
    ordered_by: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ORDER_KINDS:
            raise InvalidInput(f"kind: one of {', '.join(ORDER_KINDS)}", code="bad_line_order")
        if self.department is not None:
            check_label(self.department, "department")
        if self.window is not None:
            check_label(self.window, "window")
        if self.kind in ("exam", "lab") and (self.department is None or self.ordered_by is None):
            raise InvalidInput(
                f"line {self.code}: an exam or lab line names its department and ordering doctor",
                code="bad_line_order",
            )


@dataclass(frozen=True)
class PostedBill:
    """A bill of one hospital for one insured person; amounts come from the hospital only."""

    id: str
    hospital_id: str
    person_id: str
    external_ref: str
    bill: Bill
    point_of_sale: PointOfSale
    status: BillStatus
    created_at: datetime
    settlement_id: str | None = None
    paid_at: datetime | None = None
    orders: tuple[LineOrder, ...] = ()
    """Hospital-side order data of some lines (none on bills posted without it)."""

    def __post_init__(self) -> None:
        codes = [order.code for order in self.orders]
        if len(set(codes)) != len(codes):
            raise InvalidInput("one order per bill line", code="bad_line_order")

    def order_of(self, code: str) -> LineOrder:
        """The order data of line `code` (kind `other` when the hospital sent none)."""
        return next((order for order in self.orders if order.code == code), LineOrder(code))

    @property
    def total(self) -> int:
        """The bill's total in fen (unit price x quantity, rounded half-up per line)."""
        return sum(round_half_up(line.unit_price * line.quantity) for line in self.bill.lines)
