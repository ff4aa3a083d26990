"""Hand-worked second and third layers, and the personal account (INSURANCE.md §2).

Resident policy, inpatient tier 3: deductible first 130,000 / later 65,000, flat 0.60, cap
20,000,000. Critical illness: threshold 1,500,000 of the year's burden, 0.60 up to 10,000,000,
0.70 above, cap 40,000,000. Medical assistance: 0.70 of what is left, cap 3,000,000.
"""

from __future__ import annotations

from dataclasses import replace

from facepay.insurance.model import Accumulators, Coverage
from facepay.insurance.settlement import reverse_deltas, settle

RESIDENT = Coverage(category="resident", personal_account_balance=0)
HELPED = Coverage(category="resident", personal_account_balance=0, medical_assistance=True)
# Second admission this year, 1,400,000 of in-scope burden already.
NEAR_THRESHOLD = Accumulators(
    year=2026,
    inpatient_admissions=1,
    inpatient_eligible=2_000_000,
    inpatient_fund_paid=1_200_000,
    burden=1_400_000,
)


def test_critical_illness_layer_starts_at_the_threshold(resident, line, bill):
    # A 565,000: deductible 65,000; eligible 500,000 × 0.60 = hifp 300,000;
    # burden 565,000 − 300,000 = 265,000; the year's burden goes 1,400,000 → 1,665,000, of
    # which 165,000 is above the 1,500,000 threshold × 0.60 = hifmi 99,000.
    # Not flagged for assistance → maf 0. fund 399,000; psn_part 166,000, all cash.
    s = settle(
        bill=bill("inpatient", 3, line("A", 565_000)),
        coverage=RESIDENT,
        accumulators=NEAR_THRESHOLD,
        policy=resident,
    )
    assert (s.act_pay_dedc, s.hifp_pay, s.hifmi_pay, s.maf_pay) == (65_000, 300_000, 99_000, 0)
    assert (s.fund_pay_sumamt, s.psn_part_amt, s.psn_cash_pay) == (399_000, 166_000, 166_000)
    assert s.deltas.burden == 265_000
    assert s.deltas.critical_illness_paid == 99_000
    assert reverse_deltas(s) == NEAR_THRESHOLD


def test_below_the_threshold_critical_illness_pays_nothing_and_says_why(resident, line, bill):
    # Burden 1,000,000 + (A 165,000 − 65,000 deductible … ) stays under 1,500,000.
    acc = replace(NEAR_THRESHOLD, burden=1_000_000)
    s = settle(
        bill=bill("inpatient", 3, line("A", 165_000)),
        coverage=RESIDENT,
        accumulators=acc,
        policy=resident,
    )
    assert s.hifmi_pay == 0
    step = next(st for st in s.explanation if st.code == "critical_illness")
    assert "15000.00 yuan" in step.text


def test_critical_illness_band_edge_and_its_cap(resident, line, bill):
    # Same bill (burden 265,000), the year's burden at 9,950,000 → 10,215,000:
    #   50,000 × 0.60 = 30,000 and 215,000 × 0.70 = 150,500 → 180,500 by the bands, but
    #   40,000,000 − 39,950,000 = 50,000 of the layer's cap is left → hifmi 50,000.
    acc = replace(NEAR_THRESHOLD, burden=9_950_000, critical_illness_paid=39_950_000)
    s = settle(
        bill=bill("inpatient", 3, line("A", 565_000)),
        coverage=RESIDENT,
        accumulators=acc,
        policy=resident,
    )
    bands = [st.amount for st in s.explanation if st.code == "critical_illness_band"]
    assert bands == [30_000, 150_500]
    assert s.hifmi_pay == 50_000
    assert next(st for st in s.explanation if st.code == "critical_illness_cap").amount == 50_000


def test_medical_assistance_on_what_is_left(resident, line, bill):
    # As in the threshold example, flagged: left in scope 265,000 − 99,000 = 166,000;
    # maf 0.70 × 166,000 = 116,200. fund 300,000 + 99,000 + 116,200 = 515,200;
    # psn_part 565,000 − 515,200 = 49,800.
    s = settle(
        bill=bill("inpatient", 3, line("A", 565_000)),
        coverage=HELPED,
        accumulators=NEAR_THRESHOLD,
        policy=resident,
    )
    assert (s.hifmi_pay, s.maf_pay, s.fund_pay_sumamt, s.psn_part_amt) == (
        99_000,
        116_200,
        515_200,
        49_800,
    )
    assert s.deltas.assistance_paid == 116_200


def test_medical_assistance_cap(resident, line, bill):
    # 2,950,000 of the 3,000,000 assistance cap already paid → maf 50,000 instead of 116,200;
    # psn_part 565,000 − (300,000 + 99,000 + 50,000) = 116,000.
    acc = replace(NEAR_THRESHOLD, assistance_paid=2_950_000)
    s = settle(
        bill=bill("inpatient", 3, line("A", 565_000)),
        coverage=HELPED,
        accumulators=acc,
        policy=resident,
    )
    assert (s.maf_pay, s.psn_part_amt) == (50_000, 116_000)


def test_assistance_rounds_half_up(resident, line, bill):
    # Outpatient tier 1, deductible used: A 15 → hifp 15 × 0.60 = 9; burden 6; no critical
    # illness; maf 0.70 × 6 = 4.2 → 4. A 25 → hifp 15; burden 10; maf 7. A 12 → hifp 7.2 → 7;
    # burden 5; maf 3.5 → 4 (half-up). A 35 → hifp 21, burden 14, maf 9.8 → 10.
    acc = Accumulators(year=2026, outpatient_deductible_used=10_000)
    mafs = [
        settle(
            bill=bill("outpatient", 1, line("A", price)),
            coverage=HELPED,
            accumulators=acc,
            policy=resident,
        ).maf_pay
        for price in (15, 25, 12, 35)
    ]
    assert mafs == [4, 7, 4, 10]


def test_assistance_flag_without_an_assistance_layer_pays_nothing(employee, line, bill):
    person = Coverage(
        category="employee_active", personal_account_balance=0, medical_assistance=True
    )
    s = settle(
        bill=bill("inpatient", 3, line("A", 230_000)),
        coverage=person,
        accumulators=Accumulators(year=2026),
        policy=employee,
    )
    assert s.maf_pay == 0


SECTION_4_LINES = (
    ("C", 100_000, None),
    ("B", 500_000, None),
    ("A", 120_000, 100_000),
    ("A", 1_280_000, None),
)


def _section_4(employee, line, bill, *, balance, may_pay):
    policy = replace(employee, personal_account_may_pay=frozenset(may_pay))
    the_bill = bill("inpatient", 3, *(line(c, p, ceiling=ceil) for c, p, ceil in SECTION_4_LINES))
    person = Coverage(category="employee_active", personal_account_balance=balance)
    return settle(
        bill=the_bill, coverage=person, accumulators=Accumulators(year=2026), policy=policy
    )


def test_which_parts_the_personal_account_may_pay(employee, line, bill):
    # The §4 bill: psn_part 555,000 = fulamt 100,000 + overlmt 20,000 + preselfpay 50,000 +
    # in-scope burden 385,000 (deductible 130,000 + co-payment 255,000). Balance 1,000,000.
    everything = _section_4(
        employee,
        line,
        bill,
        balance=1_000_000,
        may_pay={"inscope", "preselfpay", "overlmt", "fulamt"},
    )
    assert (everything.acct_pay, everything.psn_cash_pay, everything.balc) == (555_000, 0, 445_000)
    inscope = _section_4(employee, line, bill, balance=1_000_000, may_pay={"inscope"})
    assert (inscope.acct_pay, inscope.psn_cash_pay, inscope.balc) == (385_000, 170_000, 615_000)
    no_class_c = _section_4(
        employee, line, bill, balance=1_000_000, may_pay={"inscope", "preselfpay", "overlmt"}
    )
    assert (no_class_c.acct_pay, no_class_c.psn_cash_pay) == (455_000, 100_000)
    nothing = _section_4(employee, line, bill, balance=1_000_000, may_pay=set())
    assert (nothing.acct_pay, nothing.psn_cash_pay, nothing.balc) == (0, 555_000, 1_000_000)


def test_account_balance_smaller_than_the_personal_part(employee, line, bill):
    # Balance 1,234 fen against 555,000 payable: the account pays its whole balance.
    s = _section_4(
        employee, line, bill, balance=1_234, may_pay={"inscope", "preselfpay", "overlmt", "fulamt"}
    )
    assert (s.acct_pay, s.psn_cash_pay, s.balc) == (1_234, 553_766, 0)
    assert "12.34 yuan" in next(st for st in s.explanation if st.code == "acct_pay").text
