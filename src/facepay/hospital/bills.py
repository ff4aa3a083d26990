"""Bills as a hospital system posts them: the insurance `Bill`, whose patient, where it is paid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from facepay.insurance.model import Bill
from facepay.shared.money import round_half_up

BillStatus = Literal["open", "paid", "refunded", "cancelled"]
"""`cancelled`: the bill of a booking cancelled before its fee was paid; it cannot be paid."""
PointOfSale = Literal["hospital", "pharmacy"]


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

    @property
    def total(self) -> int:
        """The bill's total in fen (unit price x quantity, rounded half-up per line)."""
        return sum(round_half_up(line.unit_price * line.quantity) for line in self.bill.lines)
