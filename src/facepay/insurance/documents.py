"""Policies and bills as the interchange JSON of INSURANCE.md §3 (what `parse_policy` and
`parse_bill` in facepay.adapters.interchange read back to equal objects): how the offline library
carries them to a terminal. Ratios and quantities are decimal strings, amounts integer fen."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from facepay.insurance.model import Bill, BillLine
from facepay.insurance.policy import Band, Policy, VisitRules


def bill_json(bill: Bill) -> dict[str, Any]:
    """The bill as an interchange JSON object."""
    return {
        "visit_type": bill.visit_type,
        "hospital_tier": bill.hospital_tier,
        "service_date": bill.service_date.isoformat(),
        "lines": [line_json(line) for line in bill.lines],
    }


def line_json(line: BillLine) -> dict[str, Any]:
    """One bill line as interchange JSON (optional fields left out when unset)."""
    item: dict[str, Any] = {
        "code": line.code,
        "name": line.name,
        "item_class": line.item_class,
        "unit_price": line.unit_price,
        "quantity": str(line.quantity),
    }
    if line.price_ceiling is not None:
        item["price_ceiling"] = line.price_ceiling
    if line.selfpay_ratio is not None:
        item["selfpay_ratio"] = str(line.selfpay_ratio)
    return item


def policy_json(policy: Policy) -> dict[str, Any]:
    """The policy as an interchange JSON object."""
    outpatient = policy.outpatient
    inpatient = policy.inpatient
    critical = policy.critical_illness
    assistance = policy.medical_assistance
    return {
        "id": policy.id,
        "region": policy.region,
        "effective_from": policy.effective_from.isoformat(),
        "effective_to": policy.effective_to.isoformat() if policy.effective_to else None,
        "class_b_selfpay_ratio": str(policy.class_b_selfpay_ratio),
        "personal_account_may_pay": sorted(policy.personal_account_may_pay),
        "outpatient": (
            {
                "deductible": dict(outpatient.deductible),
                "annual_cap": dict(outpatient.annual_cap),
                "bands": _bands(outpatient),
            }
            if outpatient
            else None
        ),
        "inpatient": (
            {
                "deductible": {
                    "first": _tiers(inpatient.first_deductible),
                    "later": _tiers(inpatient.later_deductible),
                },
                "annual_cap": dict(inpatient.annual_cap),
                "bands": _bands(inpatient),
            }
            if inpatient
            else None
        ),
        "critical_illness": (
            {
                "threshold": critical.threshold,
                "annual_cap": critical.annual_cap,
                "bands": [{"upto": upto, "ratio": str(ratio)} for upto, ratio in critical.bands],
            }
            if critical
            else None
        ),
        "medical_assistance": (
            {"ratio": str(assistance.ratio), "annual_cap": assistance.annual_cap}
            if assistance
            else None
        ),
    }


def _tiers(values: Mapping[int, object]) -> dict[str, object]:
    # JSON keys are text; the schema reads tier keys back as integers.
    return {str(tier): value for tier, value in sorted(values.items())}


def _band(band: Band) -> dict[str, Any]:
    return {"upto": band.upto, "ratio": {str(t): str(r) for t, r in sorted(band.ratio.items())}}


def _bands(rules: VisitRules) -> dict[str, list[dict[str, Any]]]:
    return {category: [_band(b) for b in bands] for category, bands in rules.bands.items()}
