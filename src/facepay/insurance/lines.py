"""Per-line split of a bill (INSURANCE.md §1): amount, class-C, over-ceiling and class-B parts."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from facepay.insurance.explain import Steps, percent, yuan
from facepay.insurance.model import Bill, BillLine
from facepay.shared.money import round_half_up


@dataclass(frozen=True)
class LineSplit:
    """How one line's amount divides; `inscope` is what is left for the fund's rules."""

    line: BillLine
    amount: int
    fulamt: int
    overlmt: int
    preselfpay: int
    selfpay_ratio: Decimal

    @property
    def inscope(self) -> int:
        """The line's in-scope amount (after class C, ceiling and class-B shares)."""
        return self.amount - self.fulamt - self.overlmt - self.preselfpay


def split_line(*, line: BillLine, class_b_selfpay_ratio: Decimal) -> LineSplit:
    """Split one line by its class and price ceiling, rounding half-up to the fen."""
    amount = round_half_up(line.unit_price * line.quantity)
    ratio = line.selfpay_ratio if line.selfpay_ratio is not None else class_b_selfpay_ratio
    if line.item_class == "C":
        return LineSplit(line, amount, amount, 0, 0, ratio)
    overlmt = 0
    if line.price_ceiling is not None and line.unit_price > line.price_ceiling:
        # Rounded on its own, so the excess is the same whatever the line's total rounds to.
        overlmt = round_half_up((line.unit_price - line.price_ceiling) * line.quantity)
    in_limit = amount - overlmt
    preselfpay = round_half_up(in_limit * ratio) if line.item_class == "B" else 0
    return LineSplit(line, amount, 0, overlmt, preselfpay, ratio)


@dataclass(frozen=True)
class BillTotals:
    """The four per-settlement sums of the line splits, and what is left in scope."""

    medfee: int
    fulamt: int
    overlmt: int
    preselfpay: int

    @property
    def inscope(self) -> int:
        """inscp_scp_amt = medfee − fulamt − overlmt − preselfpay."""
        return self.medfee - self.fulamt - self.overlmt - self.preselfpay


def split_bill(*, bill: Bill, class_b_selfpay_ratio: Decimal, steps: Steps) -> BillTotals:
    """Split every line, explain the self-paid parts line by line and total them."""
    splits = [
        split_line(line=line, class_b_selfpay_ratio=class_b_selfpay_ratio) for line in bill.lines
    ]
    for s in splits:
        label = f"{s.line.code} {s.line.name}".strip()
        if s.fulamt:
            steps.add(
                "line_fulamt",
                s.fulamt,
                f"{label}: class C, not covered: {yuan(s.fulamt)} is yours.",
            )
        if s.overlmt:
            steps.add(
                "line_overlmt",
                s.overlmt,
                f"{label}: the price is above the insurance ceiling: {yuan(s.overlmt)} is yours.",
            )
        if s.preselfpay:
            steps.add(
                "line_preselfpay",
                s.preselfpay,
                f"{label}: class B, you pay {percent(s.selfpay_ratio)} of it first: "
                f"{yuan(s.preselfpay)}.",
            )
    totals = BillTotals(
        medfee=sum(s.amount for s in splits),
        fulamt=sum(s.fulamt for s in splits),
        overlmt=sum(s.overlmt for s in splits),
        preselfpay=sum(s.preselfpay for s in splits),
    )
    steps.add("medfee_sumamt", totals.medfee, f"The bill comes to {yuan(totals.medfee)}.")
    steps.add(
        "inscp_scp_amt",
        totals.inscope,
        f"Of that, {yuan(totals.inscope)} is within the insurance scope.",
    )
    return totals
