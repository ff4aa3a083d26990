"""Pydantic schemas of the policy, bill and person documents (INSURANCE.md §3).

Strict where money is concerned: fen are whole integers (12.5 or "1250" is refused, so a yuan
amount cannot slip in as fen), ratios and quantities are decimal strings (a YAML float such as
0.9 is refused because it is binary, not decimal), unknown fields are refused (a typo must not
silently drop a rule).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from facepay.insurance.model import Accumulators, Bill, BillLine, Coverage
from facepay.insurance.policy import (
    Band,
    CriticalIllness,
    InpatientRules,
    MedicalAssistance,
    OutpatientRules,
    Policy,
)

MAX_FEN = 10**13  # 100 billion yuan: far above any real amount, keeps Decimal products exact
MAX_QUANTITY = Decimal(10**6)


def _decimal(value: object, *, what: str, example: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(
            f"{what} must be a quoted decimal string such as {example!r}, not {value!r}"
        )
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(f"{what} {value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError(f"{what} must be a finite number, not {value!r}")
    return number


def _ratio(value: object) -> Decimal:
    number = _decimal(value, what="a ratio", example="0.85")
    if not 0 <= number <= 1:
        raise ValueError(f"a ratio must lie between 0 and 1, not {value!r}")
    return number


def _quantity(value: object) -> Decimal:
    number = _decimal(value, what="quantity", example="0.5")
    if not 0 < number <= MAX_QUANTITY:
        raise ValueError(f"quantity must be above 0 and at most {MAX_QUANTITY}, not {value!r}")
    return number


def _fen(value: object) -> object:
    if isinstance(value, float):
        raise ValueError(f"money is whole fen (1 yuan = 100 fen), not {value!r}")
    return value


def _date(value: object) -> object:
    if isinstance(value, datetime) or not isinstance(value, date | str):
        raise ValueError(f"a date is written YYYY-MM-DD, not {value!r}")
    return value


Fen = Annotated[StrictInt, BeforeValidator(_fen), Field(ge=0, le=MAX_FEN)]
Ratio = Annotated[Decimal, BeforeValidator(_ratio)]
Quantity = Annotated[Decimal, BeforeValidator(_quantity)]
Tier = Annotated[int, Field(ge=0, le=99)]
IsoDate = Annotated[date, BeforeValidator(_date)]
AccountPart = Literal["inscope", "preselfpay", "overlmt", "fulamt"]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class BandIn(_Schema):
    upto: Fen | None
    ratio: dict[Tier, Ratio]

    def to_domain(self) -> Band:
        return Band(upto=self.upto, ratio=dict(self.ratio))


def _bands(bands: dict[str, list[BandIn]]) -> dict[str, tuple[Band, ...]]:
    return {category: tuple(b.to_domain() for b in rows) for category, rows in bands.items()}


class OutpatientIn(_Schema):
    deductible: dict[StrictStr, Fen]
    annual_cap: dict[StrictStr, Fen]
    bands: dict[StrictStr, list[BandIn]]

    def to_domain(self) -> OutpatientRules:
        return OutpatientRules(
            deductible=dict(self.deductible),
            annual_cap=dict(self.annual_cap),
            bands=_bands(self.bands),
        )


class InpatientDeductibleIn(_Schema):
    first: dict[Tier, Fen]
    later: dict[Tier, Fen]


class InpatientIn(_Schema):
    deductible: InpatientDeductibleIn
    annual_cap: dict[StrictStr, Fen]
    bands: dict[StrictStr, list[BandIn]]

    def to_domain(self) -> InpatientRules:
        return InpatientRules(
            first_deductible=dict(self.deductible.first),
            later_deductible=dict(self.deductible.later),
            annual_cap=dict(self.annual_cap),
            bands=_bands(self.bands),
        )


class CriticalBandIn(_Schema):
    upto: Fen | None
    ratio: Ratio


class CriticalIllnessIn(_Schema):
    threshold: Fen
    annual_cap: Fen
    bands: list[CriticalBandIn]

    def to_domain(self) -> CriticalIllness:
        return CriticalIllness(
            threshold=self.threshold,
            annual_cap=self.annual_cap,
            bands=tuple((band.upto, band.ratio) for band in self.bands),
        )


class AssistanceIn(_Schema):
    ratio: Ratio
    annual_cap: Fen


class PolicyIn(_Schema):
    id: Annotated[StrictStr, Field(min_length=1)]
    region: StrictStr
    effective_from: IsoDate
    effective_to: IsoDate | None = None
    class_b_selfpay_ratio: Ratio
    personal_account_may_pay: list[AccountPart]
    outpatient: OutpatientIn | None = None
    inpatient: InpatientIn | None = None
    critical_illness: CriticalIllnessIn | None = None
    medical_assistance: AssistanceIn | None = None

    def to_domain(self) -> Policy:
        assistance = self.medical_assistance
        return Policy(
            id=self.id,
            region=self.region,
            effective_from=self.effective_from,
            effective_to=self.effective_to,
            class_b_selfpay_ratio=self.class_b_selfpay_ratio,
            personal_account_may_pay=frozenset(self.personal_account_may_pay),
            outpatient=self.outpatient.to_domain() if self.outpatient else None,
            inpatient=self.inpatient.to_domain() if self.inpatient else None,
            critical_illness=self.critical_illness.to_domain() if self.critical_illness else None,
            medical_assistance=(
                MedicalAssistance(ratio=assistance.ratio, annual_cap=assistance.annual_cap)
                if assistance
                else None
            ),
        )


class LineIn(_Schema):
    code: StrictStr
    name: StrictStr = ""
    item_class: Literal["A", "B", "C"]
    unit_price: Fen
    quantity: Quantity
    price_ceiling: Fen | None = None
    selfpay_ratio: Ratio | None = None

    def to_domain(self) -> BillLine:
        return BillLine(**self.model_dump())


class BillIn(_Schema):
    visit_type: Literal["outpatient", "inpatient"]
    hospital_tier: Annotated[StrictInt, Field(ge=0, le=99)]
    service_date: IsoDate
    lines: Annotated[list[LineIn], Field(min_length=1)]

    def to_domain(self) -> Bill:
        return Bill(
            visit_type=self.visit_type,
            hospital_tier=self.hospital_tier,
            service_date=self.service_date,
            lines=tuple(line.to_domain() for line in self.lines),
        )


class AccumulatorsIn(_Schema):
    year: Annotated[StrictInt, Field(ge=1900, le=9999)]
    outpatient_deductible_used: Fen
    outpatient_eligible: Fen
    outpatient_fund_paid: Fen
    inpatient_admissions: Annotated[StrictInt, Field(ge=0, le=10_000)]
    inpatient_eligible: Fen
    inpatient_fund_paid: Fen
    burden: Fen
    critical_illness_paid: Fen
    assistance_paid: Fen


class PersonIn(_Schema):
    category: Annotated[StrictStr, Field(min_length=1)]
    personal_account_balance: Fen
    medical_assistance: StrictBool = False
    accumulators: AccumulatorsIn

    def to_domain(self) -> tuple[Coverage, Accumulators]:
        coverage = Coverage(
            category=self.category,
            personal_account_balance=self.personal_account_balance,
            medical_assistance=self.medical_assistance,
        )
        return coverage, Accumulators(**self.accumulators.model_dump())
