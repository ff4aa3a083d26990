"""Hand-worked inpatient settlements under the employee policy (INSURANCE.md §3, §4).

Employee policy, inpatient, employee_active: deductible first 800/1,000/1,300 yuan and later
400/500/650 yuan at tiers 1/2/3; bands on the year's cumulative eligible fen
[0, 3,000,000) 0.90/0.87/0.85, [3,000,000, 10,000,000) 0.95/0.92/0.90, [10,000,000, ∞)
0.97/0.97/0.95; annual cap 30,000,000.
"""

from __future__ import annotations

from facepay.insurance.model import Accumulators, Coverage
from facepay.insurance.settlement import reverse_deltas, settle

ACTIVE = Coverage(category="employee_active", personal_account_balance=0)
FRESH = Accumulators(year=2026)


def test_worked_example_of_insurance_md_section_4(employee, line, bill):
    # Lines: C 100,000 (all fulamt); B 500,000 at 10% → preselfpay 50,000; A drug 120,000 with
    # ceiling 100,000 → overlmt 20,000; A 1,280,000.
    # medfee 2,000,000; inscp = 2,000,000 − 100,000 − 20,000 − 50,000 = 1,830,000.
    # First admission, tier 3 → deductible 130,000; eligible 1,700,000, all in band 1 at 0.85
    # → hifp 1,445,000; pool_prop_selfpay 255,000; psn_part 2,000,000 − 1,445,000 = 555,000;
    # account 200,000 (its whole balance) → cash 355,000, balc 0.
    the_bill = bill(
        "inpatient",
        3,
        line("C", 100_000),
        line("B", 500_000, ratio="0.10"),
        line("A", 120_000, ceiling=100_000),
        line("A", 1_280_000),
    )
    coverage = Coverage(category="employee_active", personal_account_balance=200_000)
    s = settle(bill=the_bill, coverage=coverage, accumulators=FRESH, policy=employee)
    assert (s.medfee_sumamt, s.fulamt_ownpay_amt, s.overlmt_selfpay, s.preselfpay_amt) == (
        2_000_000,
        100_000,
        20_000,
        50_000,
    )
    assert (s.inscp_scp_amt, s.act_pay_dedc, s.hifp_pay, s.pool_prop_selfpay) == (
        1_830_000,
        130_000,
        1_445_000,
        255_000,
    )
    assert (s.hifmi_pay, s.maf_pay, s.fund_pay_sumamt) == (0, 0, 1_445_000)
    assert (s.psn_part_amt, s.acct_pay, s.psn_cash_pay, s.balc) == (555_000, 200_000, 355_000, 0)
    assert s.deltas == Accumulators(
        year=2026,
        inpatient_admissions=1,
        inpatient_eligible=1_700_000,
        inpatient_fund_paid=1_445_000,
        burden=1_830_000 - 1_445_000,
    )
    assert s.accumulators_after == FRESH.plus(s.deltas)
    assert reverse_deltas(s) == FRESH
    codes = [step.code for step in s.explanation]
    assert codes[:3] == ["line_fulamt", "line_preselfpay", "line_overlmt"]
    assert codes.index("act_pay_dedc") < codes.index("band") < codes.index("hifp_pay")
    assert codes[-3:] == ["acct_pay", "psn_cash_pay", "balc"]
    band = next(step for step in s.explanation if step.code == "band")
    assert band.amount == 1_445_000
    assert "85%" in band.text
    assert "17000.00 yuan" in band.text


def test_second_and_later_admissions_pay_the_lower_deductible(employee, line, bill):
    # Tier 2, A 300,000 each time.
    # 1st: deductible 100,000, eligible 200,000 × 0.87 = 174,000.
    # 2nd: deductible 50,000, eligible 250,000, cumulative 200,000 → 450,000, band 1:
    #      250,000 × 0.87 = 217,500.
    # 3rd: still 50,000 ("later" means every admission after the first).
    acc = FRESH
    paid = []
    for _ in range(3):
        s = settle(
            bill=bill("inpatient", 2, line("A", 300_000)),
            coverage=ACTIVE,
            accumulators=acc,
            policy=employee,
        )
        paid.append((s.act_pay_dedc, s.hifp_pay))
        acc = s.accumulators_after
    assert paid == [(100_000, 174_000), (50_000, 217_500), (50_000, 217_500)]
    assert acc.inpatient_admissions == 3
    assert acc.inpatient_eligible == 200_000 + 250_000 + 250_000


def test_deductible_larger_than_the_bill_takes_it_all(employee, line, bill):
    # Tier 3 first admission: deductible 130,000 > inscp 90,000 → act_pay_dedc 90,000, no fund.
    s = settle(
        bill=bill("inpatient", 3, line("A", 90_000)),
        coverage=ACTIVE,
        accumulators=FRESH,
        policy=employee,
    )
    assert (s.act_pay_dedc, s.hifp_pay, s.pool_prop_selfpay, s.psn_part_amt) == (
        90_000,
        0,
        0,
        90_000,
    )
    assert s.deltas.inpatient_admissions == 1  # it still was an admission


def test_cumulative_eligible_crossing_a_band_edge_inside_one_bill(employee, line, bill):
    # Tier 2, second admission (deductible 50,000). Already 2,900,000 eligible this year.
    # A 250,000 → eligible 200,000 spans 2,900,000 → 3,100,000:
    #   100,000 in band 1 × 0.87 = 87,000; 100,000 in band 2 × 0.92 = 92,000 → hifp 179,000.
    acc = Accumulators(
        year=2026,
        inpatient_admissions=1,
        inpatient_eligible=2_900_000,
        inpatient_fund_paid=2_523_000,
    )
    s = settle(
        bill=bill("inpatient", 2, line("A", 250_000)),
        coverage=ACTIVE,
        accumulators=acc,
        policy=employee,
    )
    assert (s.act_pay_dedc, s.hifp_pay, s.pool_prop_selfpay) == (50_000, 179_000, 21_000)
    bands = [step.amount for step in s.explanation if step.code == "band"]
    assert bands == [87_000, 92_000]
    assert s.accumulators_after.inpatient_eligible == 3_100_000


def test_a_bill_ending_exactly_on_a_band_edge_stays_in_the_lower_band(employee, line, bill):
    # Bands are [from, upto): 2,900,000 + 100,000 = 3,000,000 reaches the edge without entering
    # band 2 → 100,000 × 0.87 = 87,000. The next fen of eligible is in band 2.
    acc = Accumulators(year=2026, inpatient_admissions=1, inpatient_eligible=2_900_000)
    s = settle(
        bill=bill("inpatient", 2, line("A", 150_000)),
        coverage=ACTIVE,
        accumulators=acc,
        policy=employee,
    )
    assert [st.amount for st in s.explanation if st.code == "band"] == [87_000]
    nxt = settle(
        bill=bill("inpatient", 2, line("A", 60_000)),
        coverage=ACTIVE,
        accumulators=s.accumulators_after,
        policy=employee,
    )
    # 60,000 − 50,000 deductible = 10,000 eligible, all in band 2 × 0.92 = 9,200.
    assert nxt.hifp_pay == 9_200


def test_one_bill_crossing_two_band_edges(employee, line, bill):
    # Tier 2, already 2,000,000 eligible, second admission; A 9,050,000 → eligible 9,000,000
    # from 2,000,000 to 11,000,000: band 1 1,000,000 × 0.87 = 870,000; band 2 7,000,000 × 0.92
    # = 6,440,000; band 3 1,000,000 × 0.97 = 970,000 → hifp 8,280,000.
    acc = Accumulators(year=2026, inpatient_admissions=1, inpatient_eligible=2_000_000)
    s = settle(
        bill=bill("inpatient", 2, line("A", 9_050_000)),
        coverage=ACTIVE,
        accumulators=acc,
        policy=employee,
    )
    assert [st.amount for st in s.explanation if st.code == "band"] == [870_000, 6_440_000, 970_000]
    assert s.hifp_pay == 8_280_000


def test_each_band_product_is_rounded_half_up_on_its_own(employee, line, bill):
    # Tier 3, first admission: A 130,008 → deductible 130,000, eligible 8 fen, already 2,999,997:
    #   3 fen in band 1 × 0.85 = 2.55 → 3; 5 fen in band 2 × 0.90 = 4.5 → 5 → hifp 8.
    # (Rounding the sum 7.05 once would give 7: the rule is per band.)
    acc = Accumulators(year=2026, inpatient_eligible=2_999_997)
    s = settle(
        bill=bill("inpatient", 3, line("A", 130_008)),
        coverage=ACTIVE,
        accumulators=acc,
        policy=employee,
    )
    assert [st.amount for st in s.explanation if st.code == "band"] == [3, 5]
    assert (s.hifp_pay, s.pool_prop_selfpay) == (8, 0)


def test_annual_cap_reached_in_the_middle_of_a_bill(employee, line, bill):
    # Tier 1, third admission (deductible 40,000); already 31,000,000 eligible (band 3, 0.97)
    # and 29,900,000 paid by the fund of the 30,000,000 cap.
    # A 540,000 → eligible 500,000 × 0.97 = 485,000, but only 100,000 is left → hifp 100,000;
    # pool_prop_selfpay 400,000 (co-insurance 15,000 + 385,000 over the cap).
    acc = Accumulators(
        year=2026,
        inpatient_admissions=2,
        inpatient_eligible=31_000_000,
        inpatient_fund_paid=29_900_000,
    )
    s = settle(
        bill=bill("inpatient", 1, line("A", 540_000)),
        coverage=ACTIVE,
        accumulators=acc,
        policy=employee,
    )
    assert (s.act_pay_dedc, s.hifp_pay, s.pool_prop_selfpay) == (40_000, 100_000, 400_000)
    assert s.psn_part_amt == 440_000
    cap = next(step for step in s.explanation if step.code == "annual_cap")
    assert cap.amount == 100_000
    assert "4850.00 yuan" in cap.text
    assert s.accumulators_after.inpatient_fund_paid == 30_000_000
    # Once the cap is used up the fund pays nothing more this year.
    nxt = settle(
        bill=bill("inpatient", 1, line("A", 540_000)),
        coverage=ACTIVE,
        accumulators=s.accumulators_after,
        policy=employee,
    )
    assert (nxt.hifp_pay, nxt.pool_prop_selfpay) == (0, 500_000)


def test_fund_paid_already_above_a_lowered_cap_pays_nothing(employee, line, bill):
    # A mid-year policy change could leave fund_paid above the cap: remaining is 0, not negative.
    acc = Accumulators(year=2026, inpatient_admissions=1, inpatient_fund_paid=31_000_000)
    s = settle(
        bill=bill("inpatient", 1, line("A", 100_000)),
        coverage=ACTIVE,
        accumulators=acc,
        policy=employee,
    )
    assert s.hifp_pay == 0
    assert s.pool_prop_selfpay == 60_000


def test_retired_employees_have_their_own_bands(employee, line, bill):
    # employee_retired tier 3: band 1 0.91. A 230,000, first admission: 100,000 eligible × 0.91.
    retired = Coverage(category="employee_retired", personal_account_balance=0)
    s = settle(
        bill=bill("inpatient", 3, line("A", 230_000)),
        coverage=retired,
        accumulators=FRESH,
        policy=employee,
    )
    assert s.hifp_pay == 91_000
