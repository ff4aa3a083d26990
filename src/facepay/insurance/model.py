"""Bills, coverage, year-to-date accumulators and the settlement result (INSURANCE.md §1–§3).

Amounts are integer fen, ratios and quantities `Decimal`. Every type is a frozen dataclass that
checks itself when built, so a bad value fails where it enters, not deep inside `settle`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date
from decimal import Decimal
from typing import Literal

from facepay.insurance.policy import Policy, check_fen, check_ratio
from facepay.shared.errors import InvalidInput

__all__ = [
    "Accumulators",
    "Bill",
    "BillLine",
    "Coverage",
    "ExplanationStep",
    "Policy",
    "Settlement",
]

VisitType = Literal["outpatient", "inpatient"]
ItemClass = Literal["A", "B", "C"]

MAX_LINE_FEN = 10**10
"""Largest line amount (unit price x quantity) and unit price: 100 million yuan."""
MAX_BILL_FEN = 10**11
"""Largest bill: 1 billion yuan. With at most this per bill every running total of the ledger
and the accumulators stays far inside a signed 64-bit integer (9.2 x 10^18) on both
databases: 92 million bills of this size before any account could overflow."""
MAX_QUANTITY = Decimal(100_000)


@dataclass(frozen=True)
class BillLine:
    """One fee detail: class A/B/C, unit price in fen, decimal quantity."""

    code: str
    name: str
    item_class: ItemClass
    unit_price: int
    quantity: Decimal
    price_ceiling: int | None = None
    selfpay_ratio: Decimal | None = None

    def __post_init__(self) -> None:
        where = f"line {self.code}"
        if self.item_class not in ("A", "B", "C"):
            raise InvalidInput(f"{where}: class must be A, B or C, got {self.item_class!r}")
        for label, text in (("code", self.code), ("name", self.name)):
            if not isinstance(text, str) or not text.isprintable():
                raise InvalidInput(f"{where}: {label} must be printable text (no control codes)")
        check_fen(self.unit_price, f"{where}: unit_price", at_most=MAX_LINE_FEN)
        if not isinstance(self.quantity, Decimal) or not self.quantity.is_finite():
            raise InvalidInput(f"{where}: quantity must be a finite decimal")
        if not 0 < self.quantity <= MAX_QUANTITY:
            raise InvalidInput(
                f"{where}: quantity must be above zero and at most {MAX_QUANTITY}, "
                f"got {self.quantity}"
            )
        if self.unit_price * self.quantity > MAX_LINE_FEN:
            raise InvalidInput(f"{where}: the line comes to more than {MAX_LINE_FEN} fen")
        if self.price_ceiling is not None:
            check_fen(self.price_ceiling, f"{where}: price_ceiling", at_most=MAX_LINE_FEN)
        if self.selfpay_ratio is not None:
            check_ratio(self.selfpay_ratio, f"{where}: selfpay_ratio")


@dataclass(frozen=True)
class Bill:
    """What one visit (or one admission) costs, at one hospital tier on one service date."""

    visit_type: VisitType
    hospital_tier: int
    service_date: date
    lines: tuple[BillLine, ...]

    def __post_init__(self) -> None:
        if self.visit_type not in ("outpatient", "inpatient"):
            raise InvalidInput(
                f"visit_type: must be outpatient or inpatient, not {self.visit_type!r}"
            )
        if isinstance(self.hospital_tier, bool) or not isinstance(self.hospital_tier, int):
            raise InvalidInput(f"hospital_tier: must be a whole number, got {self.hospital_tier!r}")
        if not self.lines:
            raise InvalidInput("lines: a bill needs at least one line")
        if sum(line.unit_price * line.quantity for line in self.lines) > MAX_BILL_FEN:
            raise InvalidInput(f"lines: a bill comes to at most {MAX_BILL_FEN} fen")


@dataclass(frozen=True)
class Coverage:
    """Who pays: the person's category, personal-account balance and assistance eligibility."""

    category: str
    personal_account_balance: int
    medical_assistance: bool = False

    def __post_init__(self) -> None:
        check_fen(self.personal_account_balance, "personal_account_balance")


@dataclass(frozen=True)
class Accumulators:
    """A person's running totals for one calendar year; also the shape of a settlement's deltas."""

    year: int
    outpatient_deductible_used: int = 0
    outpatient_eligible: int = 0
    outpatient_fund_paid: int = 0
    inpatient_admissions: int = 0
    inpatient_eligible: int = 0
    inpatient_fund_paid: int = 0
    burden: int = 0
    critical_illness_paid: int = 0
    assistance_paid: int = 0

    def __post_init__(self) -> None:
        for name, value in self.amounts().items():
            check_fen(value, f"accumulators.{name}")

    def amounts(self) -> dict[str, int]:
        """Every running total by name, without the year."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "year"}

    def plus(self, delta: Accumulators) -> Accumulators:
        """Add a settlement's deltas (same year only)."""
        self._same_year(delta)
        mine = self.amounts()
        return replace(self, **{k: mine[k] + v for k, v in delta.amounts().items()})

    def minus(self, delta: Accumulators) -> Accumulators:
        """Take a settlement's deltas back out, exactly (refund, cancellation)."""
        self._same_year(delta)
        mine = self.amounts()
        below = [k for k, v in delta.amounts().items() if mine[k] < v]
        if below:
            raise InvalidInput(f"cannot reverse: accumulators would go below zero in {below}")
        return replace(self, **{k: mine[k] - v for k, v in delta.amounts().items()})

    def _same_year(self, delta: Accumulators) -> None:
        if delta.year != self.year:
            raise InvalidInput(
                f"deltas of {delta.year} cannot apply to accumulators of {self.year}"
            )


@dataclass(frozen=True)
class ExplanationStep:
    """One step a cashier can read out: a machine code, an amount in fen and a sentence."""

    code: str
    amount: int
    text: str


@dataclass(frozen=True)
class Settlement:
    """The split of one bill, under the national platform's field names (all fen)."""

    policy_id: str
    visit_type: VisitType
    service_date: date
    medfee_sumamt: int
    fulamt_ownpay_amt: int
    overlmt_selfpay: int
    preselfpay_amt: int
    inscp_scp_amt: int
    act_pay_dedc: int
    hifp_pay: int
    pool_prop_selfpay: int
    hifmi_pay: int
    maf_pay: int
    fund_pay_sumamt: int
    psn_part_amt: int
    acct_pay: int
    psn_cash_pay: int
    balc: int
    explanation: tuple[ExplanationStep, ...]
    accumulators_after: Accumulators
    deltas: Accumulators
