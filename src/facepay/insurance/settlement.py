"""`settle`: split one bill into fund, personal account and cash (INSURANCE.md §2), purely.

Year rule: accumulators belong to one calendar year. If the ones passed are from an earlier year
than the bill's service date, the new year starts from zero (deductible, bands, caps and
admissions all reset on 1 January). If they are from a later year, the caller has the wrong row:
settling against zeros would charge a deductible and free a cap that may already be used up, so
that is refused (`InvalidInput`) rather than guessed.
"""

from __future__ import annotations

from decimal import localcontext

from facepay.insurance.explain import Steps, yuan
from facepay.insurance.layers import (
    assistance,
    critical_illness,
    personal_account,
    pooled_fund,
    remaining_deductible,
)
from facepay.insurance.lines import split_bill
from facepay.insurance.model import Accumulators, Bill, Coverage, Settlement
from facepay.insurance.policy import Policy, VisitRules
from facepay.shared.errors import InvalidInput, PolicyError

# Enough digits that price × quantity and amount × ratio are exact before the one rounding.
_PRECISION = 60


def settle(
    *, bill: Bill, coverage: Coverage, accumulators: Accumulators, policy: Policy
) -> Settlement:
    """Split `bill` by `policy` for this person and year-to-date totals; pure, integer fen."""
    with localcontext() as context:
        context.prec = _PRECISION
        return _settle(bill, coverage, accumulators, policy)


def reverse_deltas(settlement: Settlement) -> Accumulators:
    """The accumulators as they were before `settlement` (a refund subtracts its deltas)."""
    return settlement.accumulators_after.minus(settlement.deltas)


def _rules(bill: Bill, coverage: Coverage, policy: Policy) -> VisitRules:
    if not policy.in_force(bill.service_date):
        until = policy.effective_to or "open end"
        raise PolicyError(
            f"policy {policy.id} is in force from {policy.effective_from} to {until}, "
            f"not on the service date {bill.service_date}"
        )
    rules = policy.outpatient if bill.visit_type == "outpatient" else policy.inpatient
    if rules is None:
        raise PolicyError(f"policy {policy.id} does not cover {bill.visit_type} visits")
    if coverage.category not in rules.bands:
        raise PolicyError(
            f"policy {policy.id} does not cover category {coverage.category!r} for "
            f"{bill.visit_type} visits (it covers {', '.join(sorted(rules.bands))})"
        )
    return rules


def _for_year(accumulators: Accumulators, year: int, steps: Steps) -> Accumulators:
    if accumulators.year == year:
        return accumulators
    if accumulators.year > year:
        raise InvalidInput(
            f"accumulators of {accumulators.year} cannot settle a bill of {year}: "
            f"pass that person's {year} accumulators"
        )
    steps.add(
        "new_year", 0, f"Totals of {accumulators.year} do not count in {year}: it starts at zero."
    )
    return Accumulators(year=year)


def _settle(
    bill: Bill, coverage: Coverage, accumulators: Accumulators, policy: Policy
) -> Settlement:
    rules = _rules(bill, coverage, policy)
    steps = Steps()
    acc = _for_year(accumulators, bill.service_date.year, steps)
    totals = split_bill(bill=bill, class_b_selfpay_ratio=policy.class_b_selfpay_ratio, steps=steps)
    inscp = totals.inscope
    category = coverage.category
    remaining = remaining_deductible(
        rules=rules, bill=bill, category=category, acc=acc, steps=steps
    )
    deductible = min(inscp, remaining)
    steps.add("act_pay_dedc", deductible, f"You pay {yuan(deductible)} of it on this bill.")
    eligible = inscp - deductible
    outpatient = bill.visit_type == "outpatient"
    hifp = pooled_fund(
        rules=rules,
        bill=bill,
        category=category,
        already=acc.outpatient_eligible if outpatient else acc.inpatient_eligible,
        fund_paid=acc.outpatient_fund_paid if outpatient else acc.inpatient_fund_paid,
        eligible=eligible,
        steps=steps,
    )
    steps.add("hifp_pay", hifp, f"The pooled fund (统筹基金) pays {yuan(hifp)}.")
    steps.add(
        "pool_prop_selfpay",
        eligible - hifp,
        f"Your co-payment on the eligible {yuan(eligible)} is {yuan(eligible - hifp)}.",
    )
    burden = inscp - hifp
    hifmi = critical_illness(layer=policy.critical_illness, burden=burden, acc=acc, steps=steps)
    maf = assistance(
        layer=policy.medical_assistance,
        eligible=coverage.medical_assistance,
        rest=burden - hifmi,
        acc=acc,
        steps=steps,
    )
    fund_total = hifp + hifmi + maf
    steps.add("fund_pay_sumamt", fund_total, f"Insurance pays {yuan(fund_total)} in all.")
    psn_part = totals.medfee - fund_total
    steps.add("psn_part_amt", psn_part, f"Your part is {yuan(psn_part)}.")
    balance = coverage.personal_account_balance
    acct = personal_account(
        may_pay=policy.personal_account_may_pay,
        parts={
            "inscope": burden - hifmi - maf,
            "preselfpay": totals.preselfpay,
            "overlmt": totals.overlmt,
            "fulamt": totals.fulamt,
        },
        balance=balance,
        steps=steps,
    )
    steps.add("psn_cash_pay", psn_part - acct, f"You pay {yuan(psn_part - acct)} now.")
    steps.add("balc", balance - acct, f"Your personal account keeps {yuan(balance - acct)}.")
    deltas = Accumulators(
        year=acc.year,
        outpatient_deductible_used=deductible if outpatient else 0,
        outpatient_eligible=eligible if outpatient else 0,
        outpatient_fund_paid=hifp if outpatient else 0,
        inpatient_admissions=0 if outpatient else 1,
        inpatient_eligible=0 if outpatient else eligible,
        inpatient_fund_paid=0 if outpatient else hifp,
        burden=burden,
        critical_illness_paid=hifmi,
        assistance_paid=maf,
    )
    return Settlement(
        policy_id=policy.id,
        visit_type=bill.visit_type,
        service_date=bill.service_date,
        medfee_sumamt=totals.medfee,
        fulamt_ownpay_amt=totals.fulamt,
        overlmt_selfpay=totals.overlmt,
        preselfpay_amt=totals.preselfpay,
        inscp_scp_amt=inscp,
        act_pay_dedc=deductible,
        hifp_pay=hifp,
        pool_prop_selfpay=eligible - hifp,
        hifmi_pay=hifmi,
        maf_pay=maf,
        fund_pay_sumamt=fund_total,
        psn_part_amt=psn_part,
        acct_pay=acct,
        psn_cash_pay=psn_part - acct,
        balc=balance - acct,
        explanation=tuple(steps.items),
        accumulators_after=acc.plus(deltas),
        deltas=deltas,
    )
