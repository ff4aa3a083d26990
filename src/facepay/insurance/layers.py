"""The layers of INSURANCE.md §2 after the per-line split: deductible, pooled fund, critical
illness and medical assistance. Each returns its amount and writes its own explanation steps."""

from __future__ import annotations

from facepay.insurance.brackets import pay_by_bands
from facepay.insurance.explain import Steps, percent, yuan
from facepay.insurance.model import Accumulators, Bill
from facepay.insurance.policy import (
    CriticalIllness,
    InpatientRules,
    MedicalAssistance,
    OutpatientRules,
    VisitRules,
)
from facepay.shared.errors import PolicyError
from facepay.shared.money import round_half_up

# How a cashier names the parts of the personal burden the account may pay.
_PART_NAMES = {
    "inscope": "in-scope costs",
    "preselfpay": "class-B first shares",
    "overlmt": "amounts above price ceilings",
    "fulamt": "uncovered items",
}


def remaining_deductible(
    *, rules: VisitRules, bill: Bill, category: str, acc: Accumulators, steps: Steps
) -> int:
    """What is left of the deductible: yearly for outpatient, per admission for inpatient."""
    if isinstance(rules, InpatientRules):
        first = acc.inpatient_admissions == 0
        table = rules.first_deductible if first else rules.later_deductible
        if bill.hospital_tier not in table:
            raise PolicyError(
                f"the inpatient deductible has no entry for tier {bill.hospital_tier}"
            )
        which = "first admission" if first else f"admission no. {acc.inpatient_admissions + 1}"
        steps.add(
            "deductible_rule",
            table[bill.hospital_tier],
            f"The deductible (起付线) for a {which} this year at a tier-{bill.hospital_tier} "
            f"hospital is {yuan(table[bill.hospital_tier])}.",
        )
        return table[bill.hospital_tier]
    assert isinstance(rules, OutpatientRules)
    yearly = rules.deductible[category]
    remaining = max(0, yearly - acc.outpatient_deductible_used)
    steps.add(
        "deductible_rule",
        remaining,
        f"The outpatient deductible (起付线) is {yuan(yearly)} a year; "
        f"{yuan(acc.outpatient_deductible_used)} of it is already used, {yuan(remaining)} remains.",
    )
    return remaining


def pooled_fund(
    *,
    rules: VisitRules,
    bill: Bill,
    category: str,
    already: int,
    fund_paid: int,
    eligible: int,
    steps: Steps,
) -> int:
    """The pooled fund's pay (hifp_pay): the bands on this year's eligible spending, capped."""
    try:
        bands = [(band.upto, band.ratio[bill.hospital_tier]) for band in rules.bands[category]]
    except KeyError:
        raise PolicyError(
            f"the {bill.visit_type} bands for {category} "
            f"have no ratio for tier {bill.hospital_tier}"
        ) from None
    shares = pay_by_bands(already=already, amount=eligible, lower=0, bands=bands)
    steps.bands("band", shares, of_what="this year's eligible spending", payer="the fund")
    banded = sum(share.paid for share in shares)
    cap = rules.annual_cap[category]
    left = max(0, cap - fund_paid)
    if banded > left:
        steps.add(
            "annual_cap",
            left,
            f"The fund pays at most {yuan(cap)} a year for {bill.visit_type} care and has paid "
            f"{yuan(fund_paid)} already, so it pays {yuan(left)} instead of {yuan(banded)}.",
        )
    return min(banded, left)


def critical_illness(
    *, layer: CriticalIllness | None, burden: int, acc: Accumulators, steps: Steps
) -> int:
    """The critical-illness layer (hifmi_pay) over the year's in-scope personal burden."""
    if layer is None:
        return 0
    shares = pay_by_bands(
        already=acc.burden, amount=burden, lower=layer.threshold, bands=layer.bands
    )
    if not shares:
        steps.add(
            "critical_illness",
            0,
            f"Critical-illness insurance (大病保险) starts once your own in-scope costs this year "
            f"(after the pooled fund) pass {yuan(layer.threshold)}; with this bill they reach "
            f"{yuan(acc.burden + burden)}.",
        )
        return 0
    steps.bands(
        "critical_illness_band", shares, of_what="your own in-scope costs this year", payer="it"
    )
    banded = sum(share.paid for share in shares)
    left = max(0, layer.annual_cap - acc.critical_illness_paid)
    if banded > left:
        steps.add(
            "critical_illness_cap",
            left,
            f"Critical-illness insurance pays at most {yuan(layer.annual_cap)} a year; "
            f"{yuan(left)} of it is left, so it pays that instead of {yuan(banded)}.",
        )
    return min(banded, left)


def assistance(
    *,
    layer: MedicalAssistance | None,
    eligible: bool,
    rest: int,
    acc: Accumulators,
    steps: Steps,
) -> int:
    """Medical assistance (maf_pay): a ratio of the burden left, for eligible people, capped."""
    if layer is None or not eligible:
        return 0
    computed = round_half_up(rest * layer.ratio)
    left = max(0, layer.annual_cap - acc.assistance_paid)
    paid = min(computed, left)
    capped = "" if computed <= left else f" (its yearly cap leaves only {yuan(left)})"
    steps.add(
        "medical_assistance",
        paid,
        f"Medical assistance (医疗救助) covers {percent(layer.ratio)} of the {yuan(rest)} "
        f"still yours in scope: {yuan(paid)}{capped}.",
    )
    return paid


def personal_account(
    *, may_pay: frozenset[str], parts: dict[str, int], balance: int, steps: Steps
) -> int:
    """acct_pay: the parts of the personal burden the policy lets the account pay, up to balance."""
    payable = sum(amount for part, amount in parts.items() if part in may_pay)
    paid = min(balance, payable)
    allowed = ", ".join(_PART_NAMES[part] for part in parts if part in may_pay) or "nothing"
    steps.add(
        "acct_pay",
        paid,
        f"Your personal account (个人账户) may pay {allowed}: {yuan(payable)} of this bill; "
        f"from its balance of {yuan(balance)} it pays {yuan(paid)}.",
    )
    return paid
