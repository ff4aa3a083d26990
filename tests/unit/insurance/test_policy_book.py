"""Policy versions: the one in force on the service date is chosen; overlaps are refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from facepay.insurance.model import Accumulators, BillLine, Coverage
from facepay.insurance.policies import PolicyBook
from facepay.insurance.settlement import settle
from facepay.shared.errors import InvalidInput, PolicyError


@pytest.fixture
def versions(employee):
    """The employee policy in two versions: 2026 H1, and from July a 2,000-yuan deductible."""
    first = replace(employee, id="emp-2026a", effective_to=date(2026, 6, 30))
    assert employee.outpatient is not None
    raised = replace(
        employee.outpatient,
        deductible={"employee_active": 200_000, "employee_retired": 150_000},
    )
    second = replace(employee, id="emp-2026b", effective_from=date(2026, 7, 1), outpatient=raised)
    return first, second


def test_the_version_in_force_on_the_service_date_is_picked(versions, resident):
    first, second = versions
    book = PolicyBook([second, resident, first])
    pick = book.pick
    assert pick(service_date=date(2026, 1, 1), category="employee_active") is first
    assert pick(service_date=date(2026, 6, 30), category="employee_active") is first  # inclusive
    assert pick(service_date=date(2026, 7, 1), category="employee_retired") is second
    assert pick(service_date=date(2031, 1, 1), category="employee_active") is second  # open end
    assert pick(service_date=date(2026, 7, 1), category="resident") is resident
    with pytest.raises(PolicyError, match="no policy covers category 'employee_active' on 2025"):
        pick(service_date=date(2025, 12, 31), category="employee_active")
    with pytest.raises(PolicyError, match="no policy covers category 'farmer'"):
        pick(service_date=date(2026, 3, 1), category="farmer")


def test_the_picked_version_changes_the_settlement(versions, bill):
    # Outpatient A 250,000, tier 1, fresh year: deductible 180,000 in H1 → 70,000 × 0.90 =
    # 63,000; 200,000 from July → 50,000 × 0.90 = 45,000.
    book = PolicyBook(versions)
    line = BillLine(code="A", name="", item_class="A", unit_price=250_000, quantity=Decimal(1))
    person = Coverage(category="employee_active", personal_account_balance=0)
    paid = []
    for on in (date(2026, 6, 30), date(2026, 7, 1)):
        policy = book.pick(service_date=on, category=person.category)
        the_bill = bill("outpatient", 1, line, on=on)
        acc = Accumulators(year=2026)
        paid.append(
            settle(bill=the_bill, coverage=person, accumulators=acc, policy=policy).hifp_pay
        )
    assert paid == [63_000, 45_000]


def test_overlapping_versions_for_the_same_category_are_refused(versions, employee, resident):
    first, second = versions
    with pytest.raises(InvalidInput, match="both in force on some days"):
        PolicyBook([first, replace(second, effective_from=date(2026, 6, 30))])
    with pytest.raises(InvalidInput, match="ids must be unique"):
        PolicyBook([first, replace(second, id=first.id)])
    # Different categories may overlap: employees and residents have separate schemes.
    assert len(list(PolicyBook([employee, resident]))) == 2


def test_get_by_id(versions):
    book = PolicyBook(versions)
    assert book.get("emp-2026b").effective_from == date(2026, 7, 1)
    with pytest.raises(PolicyError, match="no policy with id 'nope'"):
        book.get("nope")
