"""Domain types refuse bad values where they are built (for callers that skip the schemas)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from facepay.insurance.model import Accumulators, Bill, BillLine, Coverage
from facepay.insurance.policy import Band, CriticalIllness, MedicalAssistance, OutpatientRules
from facepay.shared.errors import InvalidInput

LINE = BillLine(code="X", name="", item_class="A", unit_price=100, quantity=Decimal(1))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"item_class": "D"}, "class must be A, B or C"),
        ({"unit_price": -1}, "unit_price: must be a whole, non-negative"),
        ({"unit_price": 1.5}, "unit_price: must be a whole, non-negative"),
        ({"quantity": Decimal(0)}, "quantity must be above zero"),
        ({"quantity": Decimal("NaN")}, "quantity must be a finite decimal"),
        ({"selfpay_ratio": Decimal("1.01")}, "selfpay_ratio: ratio must be a decimal between"),
        ({"price_ceiling": -5}, "price_ceiling: must be a whole"),
    ],
)
def test_bad_bill_lines(changes, message):
    with pytest.raises(InvalidInput, match=message):
        replace(LINE, **changes)


def test_bad_bills_and_coverage():
    with pytest.raises(InvalidInput, match="at least one line"):
        Bill(visit_type="inpatient", hospital_tier=1, service_date=date(2026, 1, 1), lines=())
    with pytest.raises(InvalidInput, match="visit_type"):
        Bill(visit_type="day-care", hospital_tier=1, service_date=date(2026, 1, 1), lines=(LINE,))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="personal_account_balance"):
        Coverage(category="x", personal_account_balance=-1)


def test_accumulators_add_and_subtract_deltas_exactly():
    start = Accumulators(year=2026, burden=500, inpatient_admissions=2)
    delta = Accumulators(year=2026, burden=120, inpatient_admissions=1, inpatient_eligible=7)
    assert start.plus(delta) == Accumulators(
        year=2026, burden=620, inpatient_admissions=3, inpatient_eligible=7
    )
    assert start.plus(delta).minus(delta) == start
    with pytest.raises(InvalidInput, match="below zero in \\['inpatient_eligible'\\]"):
        start.minus(delta)
    with pytest.raises(InvalidInput, match="deltas of 2025 cannot apply to accumulators of 2026"):
        start.plus(Accumulators(year=2025))
    with pytest.raises(InvalidInput, match=r"accumulators\.burden"):
        Accumulators(year=2026, burden=-1)


def test_policy_parts_check_themselves(employee):
    one = (Band(upto=None, ratio={1: Decimal("0.5")}),)
    with pytest.raises(InvalidInput, match="must list the same categories"):
        OutpatientRules(deductible={"a": 1}, annual_cap={"b": 1}, bands={"a": one})
    with pytest.raises(InvalidInput, match="give a ratio per hospital tier"):
        OutpatientRules(deductible={"a": 1}, annual_cap={"a": 1}, bands={"a": (Band(None, {}),)})
    with pytest.raises(InvalidInput, match="at least one band"):
        OutpatientRules(deductible={"a": 1}, annual_cap={"a": 1}, bands={"a": ()})
    with pytest.raises(InvalidInput, match="only the last band may be open"):
        CriticalIllness(threshold=0, annual_cap=1, bands=((None, Decimal(1)), (None, Decimal(1))))
    with pytest.raises(InvalidInput, match=r"medical_assistance\.annual_cap"):
        MedicalAssistance(ratio=Decimal("0.5"), annual_cap=-1)
    with pytest.raises(InvalidInput, match="personal_account_may_pay: unknown part"):
        replace(employee, personal_account_may_pay=frozenset({"cash"}))
    with pytest.raises(InvalidInput, match="class_b_selfpay_ratio"):
        replace(employee, class_b_selfpay_ratio=Decimal(2))
