"""The interchange formats: what a hospital may write, and the clear errors for what it may not."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from facepay.adapters.interchange import (
    load_bill,
    load_person,
    load_policy,
    parse_bill,
    parse_person,
    settlement_to_json,
    shipped_policies,
)
from facepay.insurance.model import Accumulators, Coverage
from facepay.insurance.settlement import settle
from facepay.shared.errors import InvalidInput

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "insurance"
POLICIES = Path(__file__).resolve().parents[3] / "src" / "facepay" / "policies"
BILL = json.loads((FIXTURES / "bill-example.json").read_text())
PERSON = json.loads((FIXTURES / "person-example.json").read_text())
EMPLOYEE_YAML = (POLICIES / "employee-2026.yaml").read_text()


def test_the_section_3_documents_load_into_domain_types():
    bill = load_bill(FIXTURES / "bill-example.json")
    assert (bill.visit_type, bill.hospital_tier, bill.service_date) == (
        "inpatient",
        3,
        date(2026, 3, 1),
    )
    assert [ln.item_class for ln in bill.lines] == ["C", "B", "A", "A"]
    assert bill.lines[1].selfpay_ratio == Decimal("0.10")
    assert bill.lines[2].price_ceiling == 100_000
    coverage, acc = load_person(FIXTURES / "person-example.json")
    assert coverage == Coverage(category="employee_active", personal_account_balance=200_000)
    assert acc == Accumulators(year=2026)


def test_shipped_policies_parse_with_tiers_as_integers():
    book = shipped_policies()
    assert sorted(p.id for p in book) == ["example-employee-2026", "example-resident-2026"]
    employee = book.get("example-employee-2026")
    assert employee.inpatient is not None
    assert employee.inpatient.first_deductible == {1: 80_000, 2: 100_000, 3: 130_000}
    assert employee.inpatient.bands["employee_active"][0].ratio[3] == Decimal("0.85")
    resident = book.get("example-resident-2026")
    assert resident.personal_account_may_pay == frozenset()
    assert resident.critical_illness is not None
    assert resident.medical_assistance is not None


def test_a_policy_loads_from_text_as_well_as_from_a_file():
    assert load_policy(EMPLOYEE_YAML) == load_policy(POLICIES / "employee-2026.yaml")
    assert load_policy(str(POLICIES / "employee-2026.yaml")).id == "example-employee-2026"


def test_settlement_json_uses_the_national_field_names(employee):
    bill = parse_bill(BILL)
    coverage, acc = parse_person(PERSON)
    data = settlement_to_json(
        settle(bill=bill, coverage=coverage, accumulators=acc, policy=employee)
    )
    assert json.loads(json.dumps(data)) == data  # plain JSON types only
    assert {k: data[k] for k in ("medfee_sumamt", "hifp_pay", "psn_cash_pay", "balc")} == {
        "medfee_sumamt": 2_000_000,
        "hifp_pay": 1_445_000,
        "psn_cash_pay": 355_000,
        "balc": 0,
    }
    assert data["service_date"] == "2026-03-01"
    assert data["deltas"]["inpatient_admissions"] == 1
    assert data["accumulators_after"]["year"] == 2026
    assert set(data["explanation"][0]) == {"code", "amount", "text"}


CRITICAL_BANDS_BELOW_THRESHOLD = (
    "critical_illness: {threshold: 2000000, annual_cap: 1, bands: "
    '[{upto: 1000000, ratio: "0.6"}, {upto: null, ratio: "0.7"}]}'
)


def _bill_with(**changes):
    bill = copy.deepcopy(BILL)
    for key, value in changes.items():
        if key.startswith("line_"):
            bill["lines"][0][key.removeprefix("line_")] = value
        else:
            bill[key] = value
    return bill


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"line_unit_price": 12.5}, r"lines\.0\.unit_price: money is whole fen.*12\.5"),
        ({"line_unit_price": "100000"}, r"lines\.0\.unit_price: Input should be a valid integer"),
        ({"line_unit_price": -1}, r"lines\.0\.unit_price: .*greater than or equal to 0 \(got -1\)"),
        ({"line_item_class": "D"}, r"lines\.0\.item_class: Input should be 'A', 'B' or 'C'"),
        ({"line_quantity": 0.5}, r"lines\.0\.quantity: .*quoted decimal string"),
        ({"line_quantity": "0"}, r"lines\.0\.quantity: quantity must be above 0"),
        ({"line_quantity": "NaN"}, r"lines\.0\.quantity: .*finite"),
        (
            {"line_selfpay_ratio": "1.5"},
            r"lines\.0\.selfpay_ratio: a ratio must lie between 0 and 1",
        ),
        ({"line_selfpay_ratio": "-0.1"}, r"selfpay_ratio: a ratio must lie between 0 and 1"),
        ({"line_unit_prce": 3}, r"lines\.0\.unit_prce: Extra inputs are not permitted"),
        ({"hospital_tier": "3"}, r"hospital_tier: Input should be a valid integer"),
        ({"service_date": "2026-13-01"}, r"service_date: "),
        ({"service_date": 1767225600}, r"service_date: a date is written YYYY-MM-DD"),
        ({"visit_type": "emergency"}, r"visit_type: Input should be 'outpatient' or 'inpatient'"),
        ({"lines": []}, r"lines: List should have at least 1 item"),
    ],
)
def test_bad_bills_are_refused_naming_the_field(changes, message):
    with pytest.raises(InvalidInput, match=message):
        parse_bill(_bill_with(**changes))


def test_all_bad_fields_are_listed_at_once():
    bad = _bill_with(line_unit_price=1.5, hospital_tier=True)
    with pytest.raises(InvalidInput) as caught:
        parse_bill(bad)
    assert "lines.0.unit_price" in caught.value.message
    assert "hospital_tier" in caught.value.message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(personal_account_balance=2000.5), r"personal_account_balance: money"),
        (lambda p: p.update(medical_assistance="yes"), r"medical_assistance: .*boolean"),
        (lambda p: p["accumulators"].pop("burden"), r"accumulators\.burden: Field required"),
        (lambda p: p["accumulators"].update(inpatient_fund_paid=-5), r"inpatient_fund_paid"),
        (lambda p: p.update(category=""), r"category: "),
    ],
)
def test_bad_persons_are_refused_naming_the_field(change, message):
    person = copy.deepcopy(PERSON)
    change(person)
    with pytest.raises(InvalidInput, match=message):
        parse_person(person)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "upto: 10000000",
            "upto: 2000000",
            r"inpatient\.bands\.employee_active\.1\.upto: bands must increase",
        ),
        ("upto: 10000000", "upto: 3000000", r"employee_active\.1\.upto: bands must increase"),
        (
            '{upto: null,     ratio: {"1": "0.97"',
            '{upto: 20000000, ratio: {"1": "0.97"',
            r"last band must be open",
        ),
        (
            '"1": "0.95", "2": "0.92"',
            '"1": "1.95", "2": "0.92"',
            r"employee_active\.1\.ratio\.1: a ratio must lie between 0 and 1",
        ),
        (
            '"1": "0.95", "2": "0.92"',
            '"1": 0.95, "2": "0.92"',
            r"ratio\.1: a ratio must be a quoted decimal string",
        ),
        (
            "employee_retired: 130000}",
            "employee_retired: 1300.5}",
            r"outpatient\.deductible\.employee_retired: money is whole fen",
        ),
        (
            "annual_cap: {employee_active: 2000000, employee_retired: 2000000}",
            "annual_cap: {employee_active: 2000000}",
            r"outpatient: deductible, annual_cap and bands must list the same categories",
        ),
        ("fulamt]", "cash]", r"personal_account_may_pay\.3: "),
        (
            'class_b_selfpay_ratio: "0.10"',
            'class_b_selfpay_ratio: "10%"',
            r"class_b_selfpay_ratio: ",
        ),
        (
            "effective_to: null",
            "effective_to: 2025-12-31",
            r"effective_to: must not be before effective_from",
        ),
        (
            "region: Example City",
            "region: Example City\nregoin: typo",
            r"regoin: Extra inputs are not permitted",
        ),
        (
            "critical_illness: null",
            CRITICAL_BANDS_BELOW_THRESHOLD,
            r"critical_illness\.bands\.0\.upto: bands must increase",
        ),
        (
            "medical_assistance: null",
            'medical_assistance: {ratio: "1.1", annual_cap: 5}',
            r"medical_assistance\.ratio: a ratio must lie",
        ),
    ],
)
def test_bad_policies_are_refused_naming_the_field(old, new, message):
    assert old in EMPLOYEE_YAML
    with pytest.raises(InvalidInput, match=message):
        load_policy(EMPLOYEE_YAML.replace(old, new, 1))


def test_unreadable_documents_are_invalid_input(tmp_path):
    with pytest.raises(InvalidInput, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
    with pytest.raises(InvalidInput, match="no such file"):
        load_policy(str(tmp_path / "missing.yaml"))
    with pytest.raises(InvalidInput, match="not valid JSON or YAML"):
        load_policy("id: [\nregion: x")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(InvalidInput, match="expected a mapping of fields, got list"):
        load_bill(tmp_path / "list.json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidInput, match="cannot read"):
        load_bill(tmp_path / "binary.json")
