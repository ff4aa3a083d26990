"""Hand-worked per-line splits and outpatient settlements (INSURANCE.md §1, §2).

Employee outpatient: yearly deductible 180,000 (active) / 130,000 (retired); one open band,
active 0.90/0.70/0.70 and retired 0.90/0.85/0.85 at tiers 1/2/3; annual cap 2,000,000.
Resident outpatient (values chosen in resident-2026.yaml): deductible 10,000 a year,
0.60/0.50/0.50, annual cap 50,000; the resident policy's account pays nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from facepay.insurance.model import Accumulators, Coverage
from facepay.insurance.settlement import settle
from facepay.shared.errors import InvalidInput, PolicyError

ACTIVE = Coverage(category="employee_active", personal_account_balance=1_000_000)
RETIRED = Coverage(category="employee_retired", personal_account_balance=0)
# Outpatient deductibles already used up, so the bands are seen directly.
PAST_DEDUCTIBLE = Accumulators(year=2026, outpatient_deductible_used=180_000)


def test_deductible_straddling_two_bills(employee, line, bill):
    # Bill 1: A 100,000 → all of it goes to the 180,000 deductible; fund 0.
    # Bill 2: A 150,000 → 80,000 deductible left: act_pay_dedc 80,000, eligible 70,000 × 0.90
    #         = 63,000; burden 150,000 − 63,000 = 87,000, all payable by the account.
    # Bill 3: A 10,000 → deductible used up: 10,000 × 0.90 = 9,000.
    acc = Accumulators(year=2026)
    first = settle(
        bill=bill("outpatient", 1, line("A", 100_000)),
        coverage=ACTIVE,
        accumulators=acc,
        policy=employee,
    )
    assert (first.act_pay_dedc, first.hifp_pay, first.psn_part_amt) == (100_000, 0, 100_000)
    second = settle(
        bill=bill("outpatient", 1, line("A", 150_000)),
        coverage=ACTIVE,
        accumulators=first.accumulators_after,
        policy=employee,
    )
    assert (second.act_pay_dedc, second.hifp_pay, second.pool_prop_selfpay) == (
        80_000,
        63_000,
        7_000,
    )
    assert (second.psn_part_amt, second.acct_pay, second.psn_cash_pay) == (87_000, 87_000, 0)
    third = settle(
        bill=bill("outpatient", 1, line("A", 10_000)),
        coverage=ACTIVE,
        accumulators=second.accumulators_after,
        policy=employee,
    )
    assert (third.act_pay_dedc, third.hifp_pay) == (0, 9_000)
    after = third.accumulators_after
    assert (
        after.outpatient_deductible_used,
        after.outpatient_eligible,
        after.outpatient_fund_paid,
    ) == (
        180_000,
        80_000,
        72_000,
    )
    assert after.inpatient_admissions == 0  # outpatient visits are not admissions


def test_class_b_and_c_mix_with_line_and_default_ratios(employee, line, bill):
    # Retired, tier 2 (0.85), deductible used up.
    # B 33,333 at its own 20% → preselfpay round(6,666.6) = 6,667.
    # B 10,005 with no ratio → policy default 10% → 1,000.5 → 1,001 (half-up).
    # C 25,000 → fulamt 25,000.  A 40,000.
    # medfee 108,338; inscp 108,338 − 25,000 − 7,668 = 75,670 (= 26,666 + 9,004 + 40,000);
    # hifp 75,670 × 0.85 = 64,319.5 → 64,320; pool_prop 11,350; psn_part 44,018.
    acc = Accumulators(year=2026, outpatient_deductible_used=130_000)
    the_bill = bill(
        "outpatient",
        2,
        line("B", 33_333, ratio="0.20"),
        line("B", 10_005),
        line("C", 25_000),
        line("A", 40_000),
    )
    s = settle(bill=the_bill, coverage=RETIRED, accumulators=acc, policy=employee)
    assert (s.medfee_sumamt, s.fulamt_ownpay_amt, s.preselfpay_amt, s.inscp_scp_amt) == (
        108_338,
        25_000,
        7_668,
        75_670,
    )
    assert (s.hifp_pay, s.pool_prop_selfpay, s.psn_part_amt) == (64_320, 11_350, 44_018)
    shares = [st.amount for st in s.explanation if st.code == "line_preselfpay"]
    assert shares == [6_667, 1_001]


def test_over_ceiling_items_and_decimal_quantities(employee, line, bill):
    # A 1,500 × 3 with ceiling 1,200 → amount 4,500, overlmt 300 × 3 = 900, in limit 3,600.
    # B 2,001 × 0.5 with ceiling 1,000 → amount round(1,000.5) = 1,001; overlmt
    #   round(1,001 × 0.5 = 500.5) = 501; in limit 500; preselfpay 500 × 10% = 50.
    # A 800 with ceiling 1,000 → under the ceiling, nothing over.
    # C 5,000 with ceiling 1,000 → class C is all fulamt; the ceiling does not split it.
    # medfee 11,301; fulamt 5,000; overlmt 1,401; preselfpay 50; inscp 4,850
    # (= 3,600 + 450 + 800); tier 1 → hifp 4,850 × 0.90 = 4,365.
    the_bill = bill(
        "outpatient",
        1,
        line("A", 1_500, qty="3", ceiling=1_200),
        line("B", 2_001, qty="0.5", ceiling=1_000),
        line("A", 800, ceiling=1_000),
        line("C", 5_000, ceiling=1_000),
    )
    s = settle(bill=the_bill, coverage=ACTIVE, accumulators=PAST_DEDUCTIBLE, policy=employee)
    assert (s.medfee_sumamt, s.fulamt_ownpay_amt, s.overlmt_selfpay, s.preselfpay_amt) == (
        11_301,
        5_000,
        1_401,
        50,
    )
    assert (s.inscp_scp_amt, s.hifp_pay, s.pool_prop_selfpay) == (4_850, 4_365, 485)


def test_quantity_as_a_decimal_string_rounds_the_line_half_up(employee, line, bill):
    # 333 × 0.5 = 166.5 → 167; 1,001 × 2.5 = 2,502.5 → 2,503; 999 × 0.333 = 332.667 → 333.
    the_bill = bill(
        "outpatient",
        1,
        line("A", 333, qty="0.5"),
        line("A", 1_001, qty="2.5"),
        line("A", 999, qty="0.333"),
    )
    s = settle(bill=the_bill, coverage=ACTIVE, accumulators=PAST_DEDUCTIBLE, policy=employee)
    assert s.medfee_sumamt == 167 + 2_503 + 333


def test_outpatient_with_the_resident_policy(resident, line, bill):
    # Tier 1 (0.60), fresh year. A 30,000 + B 10,000 (10% → 1,000): medfee 40,000, inscp 39,000;
    # deductible 10,000; eligible 29,000 × 0.60 = 17,400; pool_prop 11,600; burden 21,600 (far
    # below the critical-illness threshold); psn_part 22,600. Residents have no account here:
    # acct_pay 0 even with a balance, all of it is cash, the balance is untouched.
    person = Coverage(category="resident", personal_account_balance=5_000)
    first = settle(
        bill=bill("outpatient", 1, line("A", 30_000), line("B", 10_000)),
        coverage=person,
        accumulators=Accumulators(year=2026),
        policy=resident,
    )
    assert (first.inscp_scp_amt, first.act_pay_dedc, first.hifp_pay) == (39_000, 10_000, 17_400)
    assert (first.hifmi_pay, first.maf_pay, first.psn_part_amt) == (0, 0, 22_600)
    assert (first.acct_pay, first.psn_cash_pay, first.balc) == (0, 22_600, 5_000)
    # Next visit at tier 3 (0.50): A 100,000 → eligible 100,000 × 0.50 = 50,000, but the
    # 50,000 outpatient cap has 50,000 − 17,400 = 32,600 left.
    second = settle(
        bill=bill("outpatient", 3, line("A", 100_000)),
        coverage=person,
        accumulators=first.accumulators_after,
        policy=resident,
    )
    assert (second.act_pay_dedc, second.hifp_pay, second.pool_prop_selfpay) == (0, 32_600, 67_400)


def test_last_years_accumulators_start_the_new_year_from_zero(employee, line, bill):
    # 2025's deductible was used up, but on 1 January it resets: the 2026 bill pays it again.
    old = Accumulators(
        year=2025, outpatient_deductible_used=180_000, outpatient_fund_paid=1_999_000
    )
    s = settle(
        bill=bill("outpatient", 1, line("A", 200_000)),
        coverage=ACTIVE,
        accumulators=old,
        policy=employee,
    )
    assert (s.act_pay_dedc, s.hifp_pay) == (180_000, 18_000)
    assert s.accumulators_after.year == 2026
    assert s.explanation[0].code == "new_year"


def test_accumulators_of_a_later_year_are_refused(employee, line, bill):
    ahead = Accumulators(year=2027)
    with pytest.raises(InvalidInput, match="pass that person's 2026 accumulators"):
        settle(
            bill=bill("outpatient", 1, line("A", 100)),
            coverage=ACTIVE,
            accumulators=ahead,
            policy=employee,
        )


@pytest.mark.parametrize(
    ("category", "tier", "on", "message"),
    [
        ("resident", 1, date(2026, 3, 1), "does not cover category 'resident'"),
        ("employee_active", 4, date(2026, 3, 1), "no ratio for tier 4"),
        ("employee_active", 1, date(2025, 12, 31), "not on the service date 2025-12-31"),
    ],
)
def test_what_the_policy_does_not_cover_is_a_policy_error(
    employee, line, bill, category, tier, on, message
):
    person = Coverage(category=category, personal_account_balance=0)
    with pytest.raises(PolicyError, match=message):
        settle(
            bill=bill("outpatient", tier, line("A", 100), on=on),
            coverage=person,
            accumulators=Accumulators(year=on.year),
            policy=employee,
        )


def test_an_uncovered_visit_type_is_a_policy_error(employee, line, bill):
    inpatient_only = replace(employee, outpatient=None)
    with pytest.raises(PolicyError, match="does not cover outpatient visits"):
        settle(
            bill=bill("outpatient", 1, line("A", 100)),
            coverage=ACTIVE,
            accumulators=Accumulators(year=2026),
            policy=inpatient_only,
        )


def test_an_uncovered_inpatient_tier_deductible_is_a_policy_error(employee, line, bill):
    with pytest.raises(PolicyError, match="deductible has no entry for tier 4"):
        settle(
            bill=bill("inpatient", 4, line("A", 100)),
            coverage=ACTIVE,
            accumulators=Accumulators(year=2026),
            policy=employee,
        )
