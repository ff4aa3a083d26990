"""Hypothesis: the identities of INSURANCE.md §2 hold for random bills, policies and years.

Policies are either the two shipped ones or random ones (1–3 bands with random edges and ratios,
small caps so that caps bind often, optional critical-illness and assistance layers, a random
subset of account parts). Accumulators are random and sometimes from the previous year.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from facepay.adapters.interchange import shipped_policies
from facepay.insurance.model import Accumulators, Bill, BillLine, Coverage, Settlement
from facepay.insurance.policy import (
    ACCOUNT_PARTS,
    Band,
    CriticalIllness,
    InpatientRules,
    MedicalAssistance,
    OutpatientRules,
    Policy,
)
from facepay.insurance.settlement import reverse_deltas, settle

YEAR = 2026
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NATIONAL = [
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "hifp_pay",
    "pool_prop_selfpay",
    "hifmi_pay",
    "maf_pay",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
    "balc",
]
TIERS = (1, 2, 3)
BOOK = shipped_policies()
SHIPPED = [
    (BOOK.get("example-employee-2026"), "employee_active"),
    (BOOK.get("example-employee-2026"), "employee_retired"),
    (BOOK.get("example-resident-2026"), "resident"),
]

ratios = st.integers(0, 100).map(lambda n: Decimal(n) / 100)
# Three-decimal ratios too, so that half-fen products (x.5) occur and get rounded.
fine_ratios = st.integers(0, 1000).map(lambda n: Decimal(n) / 1000)


@st.composite
def uptos(draw, *, above=0, high=20_000_000):
    edges = draw(st.lists(st.integers(above + 1, above + high), max_size=2, unique=True))
    return [*sorted(edges), None]


@st.composite
def visit_bands(draw):
    return tuple(Band(upto=u, ratio={t: draw(fine_ratios) for t in TIERS}) for u in draw(uptos()))


@st.composite
def critical_layers(draw):
    threshold = draw(st.integers(0, 3_000_000))
    edges = draw(uptos(above=threshold))
    return CriticalIllness(
        threshold=threshold,
        annual_cap=draw(st.integers(0, 5_000_000)),
        bands=tuple((u, draw(ratios)) for u in edges),
    )


@st.composite
def random_policies(draw):
    per_tier = st.fixed_dictionaries({t: st.integers(0, 200_000) for t in TIERS})
    policy = Policy(
        id="random",
        region="Hypothesis",
        effective_from=date(YEAR, 1, 1),
        effective_to=None,
        class_b_selfpay_ratio=draw(fine_ratios),
        personal_account_may_pay=draw(st.frozensets(st.sampled_from(sorted(ACCOUNT_PARTS)))),
        outpatient=OutpatientRules(
            deductible={"c": draw(st.integers(0, 300_000))},
            annual_cap={"c": draw(st.integers(0, 3_000_000))},
            bands={"c": draw(visit_bands())},
        ),
        inpatient=InpatientRules(
            first_deductible=draw(per_tier),
            later_deductible=draw(per_tier),
            annual_cap={"c": draw(st.integers(0, 20_000_000))},
            bands={"c": draw(visit_bands())},
        ),
        critical_illness=draw(st.none() | critical_layers()),
        medical_assistance=draw(
            st.none()
            | st.builds(MedicalAssistance, ratio=fine_ratios, annual_cap=st.integers(0, 2_000_000))
        ),
    )
    return policy, "c"


policies = st.one_of(st.sampled_from(SHIPPED), random_policies())

lines = st.builds(
    BillLine,
    code=st.just("X"),
    name=st.just(""),
    item_class=st.sampled_from(["A", "B", "C"]),
    unit_price=st.integers(0, 3_000_000),
    quantity=st.decimals(min_value=Decimal("0.001"), max_value=Decimal(20), places=3),
    price_ceiling=st.none() | st.integers(0, 3_000_000),
    selfpay_ratio=st.none() | fine_ratios,
)

bills = st.builds(
    Bill,
    visit_type=st.sampled_from(["outpatient", "inpatient"]),
    hospital_tier=st.sampled_from(TIERS),
    service_date=st.dates(date(YEAR, 1, 1), date(YEAR, 12, 31)),
    lines=st.lists(lines, min_size=1, max_size=6).map(tuple),
)

amounts = st.integers(0, 40_000_000)
accumulators = st.builds(
    Accumulators,
    year=st.sampled_from([YEAR, YEAR, YEAR, YEAR - 1]),
    outpatient_deductible_used=st.integers(0, 300_000),
    outpatient_eligible=amounts,
    outpatient_fund_paid=st.integers(0, 3_000_000),
    inpatient_admissions=st.integers(0, 4),
    inpatient_eligible=amounts,
    inpatient_fund_paid=st.integers(0, 20_000_000),
    burden=amounts,
    critical_illness_paid=st.integers(0, 3_000_000),
    assistance_paid=st.integers(0, 1_000_000),
)


def _coverage(category: str, balance: int, helped: bool) -> Coverage:
    return Coverage(category=category, personal_account_balance=balance, medical_assistance=helped)


def _start(acc: Accumulators) -> Accumulators:
    """The totals the bill really starts from (last year's reset to zero)."""
    return acc if acc.year == YEAR else Accumulators(year=YEAR)


def _fund_left(policy: Policy, visit_type: str, category: str, acc: Accumulators) -> int:
    rules = policy.outpatient if visit_type == "outpatient" else policy.inpatient
    assert rules is not None
    paid = acc.outpatient_fund_paid if visit_type == "outpatient" else acc.inpatient_fund_paid
    return max(0, rules.annual_cap[category] - paid)


def _check_identities(s: Settlement, balance: int) -> None:
    assert all(getattr(s, name) >= 0 for name in NATIONAL), s
    assert s.medfee_sumamt == s.fund_pay_sumamt + s.psn_part_amt
    assert s.psn_part_amt == s.acct_pay + s.psn_cash_pay
    assert s.inscp_scp_amt == (
        s.medfee_sumamt - s.fulamt_ownpay_amt - s.overlmt_selfpay - s.preselfpay_amt
    )
    assert s.fund_pay_sumamt == s.hifp_pay + s.hifmi_pay + s.maf_pay
    assert s.pool_prop_selfpay == s.inscp_scp_amt - s.act_pay_dedc - s.hifp_pay
    assert s.acct_pay <= balance
    assert s.balc == balance - s.acct_pay
    assert all(step.amount >= 0 and step.text for step in s.explanation)
    # A step named after a national field states exactly that field's amount.
    for step in s.explanation:
        if step.code in NATIONAL:
            assert step.amount == getattr(s, step.code), step
    # Labels in --hypothesis-show-statistics: proof that the interesting branches are reached.
    codes = {step.code for step in s.explanation}
    for code in ("annual_cap", "critical_illness_band", "critical_illness_cap", "new_year"):
        if code in codes:
            event(code)
    if sum(step.code == "band" for step in s.explanation) > 1:
        event("bill crosses a band edge")
    if s.maf_pay:
        event("medical assistance paid")
    if 0 < s.acct_pay == balance < s.psn_part_amt:
        event("account balance smaller than payable part")


@SETTINGS
@given(
    policy=policies,
    bill=bills,
    acc=accumulators,
    balance=st.integers(0, 3_000_000),
    helped=st.booleans(),
)
def test_every_settlement_keeps_the_identities_and_the_caps(policy, bill, acc, balance, helped):
    policy, category = policy
    s = settle(
        bill=bill, coverage=_coverage(category, balance, helped), accumulators=acc, policy=policy
    )
    _check_identities(s, balance)
    start = _start(acc)
    assert s.hifp_pay <= _fund_left(policy, bill.visit_type, category, start)
    if policy.critical_illness is not None:
        assert s.hifmi_pay <= max(
            0, policy.critical_illness.annual_cap - start.critical_illness_paid
        )
    else:
        assert s.hifmi_pay == 0
    if policy.medical_assistance is not None and helped:
        assert s.maf_pay <= max(0, policy.medical_assistance.annual_cap - start.assistance_paid)
    else:
        assert s.maf_pay == 0
    # Settle, then reverse: the accumulators are exactly what the bill started from.
    assert reverse_deltas(s) == start
    assert s.accumulators_after.minus(s.deltas) == start
    assert s.accumulators_after == start.plus(s.deltas)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=policies,
    first=bills,
    second=bills,
    acc=accumulators,
    balance=st.integers(0, 3_000_000),
    helped=st.booleans(),
)
def test_two_bills_in_sequence_never_pay_more_than_the_caps(
    policy, first, second, acc, balance, helped
):
    policy, category = policy
    coverage = _coverage(category, balance, helped)
    one = settle(bill=first, coverage=coverage, accumulators=acc, policy=policy)
    after_one = replace_balance(coverage, one.balc)
    two = settle(
        bill=second, coverage=after_one, accumulators=one.accumulators_after, policy=policy
    )
    _check_identities(two, one.balc)
    start = _start(acc)
    for visit_type in ("outpatient", "inpatient"):
        paid = sum(s.hifp_pay for s in (one, two) if s.visit_type == visit_type)
        assert paid <= _fund_left(policy, visit_type, category, start)
    if policy.critical_illness is not None:
        cap_left = max(0, policy.critical_illness.annual_cap - start.critical_illness_paid)
        assert one.hifmi_pay + two.hifmi_pay <= cap_left
    if policy.medical_assistance is not None:
        cap_left = max(0, policy.medical_assistance.annual_cap - start.assistance_paid)
        assert one.maf_pay + two.maf_pay <= cap_left
    assert one.acct_pay + two.acct_pay <= balance
    # Refunding the first bill after the second restores what the second one added on top.
    assert two.accumulators_after.minus(one.deltas).minus(two.deltas) == start


def replace_balance(coverage: Coverage, balance: int) -> Coverage:
    return Coverage(
        category=coverage.category,
        personal_account_balance=balance,
        medical_assistance=coverage.medical_assistance,
    )


@settings(max_examples=150, deadline=None)
@given(lines_=st.lists(lines, min_size=1, max_size=6), tier=st.sampled_from(TIERS))
def test_splitting_a_bill_in_two_never_changes_the_per_line_parts(lines_, tier):
    # The per-line split is line by line: two halves of a bill have the same four totals.
    policy, category = SHIPPED[0]
    coverage = _coverage(category, 0, False)
    acc = Accumulators(year=YEAR)

    def totals(chosen):
        bill = Bill(
            visit_type="outpatient",
            hospital_tier=tier,
            service_date=date(YEAR, 5, 1),
            lines=tuple(chosen),
        )
        s = settle(bill=bill, coverage=coverage, accumulators=acc, policy=policy)
        return (s.medfee_sumamt, s.fulamt_ownpay_amt, s.overlmt_selfpay, s.preselfpay_amt)

    whole = totals(lines_)
    if len(lines_) > 1:
        head, tail = totals(lines_[:1]), totals(lines_[1:])
        assert whole == tuple(a + b for a, b in zip(head, tail, strict=True))
