"""Recompute a settlement from what the API says it was computed from, and compare every fen.

`GET /v1/settlements` gives each settlement's bill, payer (category, assistance, personal
account available), accumulators before and policy id next to its split. `recompute` runs the
same policy on those inputs with `facepay.insurance.settlement.settle` and lists every field
that comes out different: an empty list means the report's money holds exactly.
"""

from __future__ import annotations

from typing import Any

from facepay.adapters.interchange import parse_bill
from facepay.insurance.model import Accumulators, Coverage
from facepay.insurance.policies import PolicyBook
from facepay.insurance.settlement import settle

FIELDS = (
    "medfee_sumamt", "fund_pay_sumamt", "hifp_pay", "hifmi_pay", "maf_pay", "acct_pay",
    "psn_cash_pay", "psn_part_amt", "balc",
)  # fmt: skip


def recompute(read: dict[str, Any], policies: PolicyBook) -> list[str]:
    """What differs between a settlement read and the split recomputed from its inputs."""
    if read.get("bill") is None or read.get("payer") is None:
        return [f"{read['id']}: its inputs were not kept"]
    payer = read["payer"]
    split = read["split"]
    result = settle(
        bill=parse_bill(read["bill"]),
        coverage=Coverage(
            category=payer["category"],
            personal_account_balance=payer["personal_account_fen"],
            medical_assistance=payer["medical_assistance"],
        ),
        accumulators=Accumulators(**read["accumulators_before"]),
        policy=policies.get(split["policy_id"]),
    )
    return [
        f"{read['id']}: {name} is {split[name]}, recomputed {getattr(result, name)}"
        for name in FIELDS
        if getattr(result, name) != split[name]
    ]


def recompute_all(reads: list[dict[str, Any]], policies: PolicyBook) -> dict[str, Any]:
    """Every settlement recomputed: how many, and each difference found."""
    problems = [problem for read in reads for problem in recompute(read, policies)]
    return {"settlements": len(reads), "differences": problems}
