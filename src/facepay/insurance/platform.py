"""The settlement platform port: who computes a bill's insurance split.

`LocalPlatform` (the default) is facepay's own engine (`facepay.insurance.settlement.settle`),
run inside the payment's database transaction on the accumulators and account it locks: the
policy as data, for regions, commercial insurers and tests. The national medical-insurance
platform (the NHSA adapter, facepay.adapters.nhsa.platform) computes the split itself: the
hospital uploads the fee lines and asks it to settle. Its network calls happen OUTSIDE any
database transaction: `settle` returns the platform's split, the payment's transaction books
exactly that, and if booking fails the caller undoes it with `cancel`.

Both are keyed by the payment's idempotency key: `settle` called again with a key whose
settlement the platform already made returns that settlement, never a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from facepay.insurance.model import Accumulators, Bill, ExplanationStep, Settlement

OperatorKind = Literal["self_service", "operator"]


@dataclass(frozen=True)
class Operator:
    """Who acts at the site: a self-service terminal (a kiosk on its own) or staff."""

    kind: OperatorKind
    id: str
    name: str


@dataclass(frozen=True)
class Claim:
    """One bill to settle on a platform, under the payment's idempotency key."""

    key: str
    hospital_id: str
    person_id: str
    id_number: str
    person_name: str
    category: str
    bill: Bill
    visit_ref: str
    """The hospital's own number of the visit (the bill's external reference, the stay's id)."""
    operator: Operator
    started_at: datetime | None = None
    """When the visit began (a stay: its admission); None: now."""
    diagnosis: tuple[str, str] | None = None
    """A stay's admitting diagnosis: ICD-10 code and text."""


SPLIT_FIELDS = (
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
)
"""The amounts (fen) a platform's split gives, under the national names."""


@dataclass(frozen=True)
class RemoteSettlement:
    """A split the platform computed and holds, in fen, with its own reference."""

    amounts: dict[str, int]
    platform_ref: str
    """The platform's settlement id (setl_id)."""

    def settlement(self, *, bill: Bill, policy_id: str, accumulators: Accumulators) -> Settlement:
        """The split as the Settlement facepay books: the platform keeps the true year totals;
        facepay's copy of the accumulators follows it by the deltas the split implies."""
        a = self.amounts
        outpatient = bill.visit_type == "outpatient"
        year = bill.service_date.year
        acc = accumulators if accumulators.year == year else Accumulators(year=year)
        eligible = a["inscp_scp_amt"] - a["act_pay_dedc"]
        deltas = Accumulators(
            year=year,
            outpatient_deductible_used=a["act_pay_dedc"] if outpatient else 0,
            outpatient_eligible=eligible if outpatient else 0,
            outpatient_fund_paid=a["hifp_pay"] if outpatient else 0,
            inpatient_admissions=0 if outpatient else 1,
            inpatient_eligible=0 if outpatient else eligible,
            inpatient_fund_paid=0 if outpatient else a["hifp_pay"],
            burden=a["inscp_scp_amt"] - a["hifp_pay"],
            critical_illness_paid=a["hifmi_pay"],
            assistance_paid=a["maf_pay"],
        )
        step = ExplanationStep(
            "platform_settlement",
            a["fund_pay_sumamt"],
            f"The insurance platform settled this bill (its settlement {self.platform_ref}).",
        )
        return Settlement(
            policy_id=policy_id,
            visit_type=bill.visit_type,
            service_date=bill.service_date,
            explanation=(step,),
            accumulators_after=acc.plus(deltas),
            deltas=deltas,
            **{name: a[name] for name in SPLIT_FIELDS},
        )


class SettlementPlatform(Protocol):
    """Where a bill is settled. Every method is called outside any database transaction."""

    @property
    def remote(self) -> bool:
        """True when the split comes from `settle` (else the engine runs in the transaction)."""
        ...

    def settle(self, claim: Claim) -> RemoteSettlement | None:
        """The platform's settlement of the claim (the same one again for a key it has
        settled), or None: compute it locally in the payment's transaction."""
        ...

    def cancel(self, *, hospital_id: str, key: str, cancel_key: str, operator: Operator) -> None:
        """Undo the settlement made under `key` (a refund, or a booking that failed), once per
        `cancel_key`; nothing to do if there is none."""
        ...


class LocalPlatform:
    """facepay's own engine: nothing leaves the transaction."""

    remote = False

    def settle(self, claim: Claim) -> RemoteSettlement | None:
        """None: `settle_in_transaction` runs the engine on the locked accumulators."""
        return None

    def cancel(self, *, hospital_id: str, key: str, cancel_key: str, operator: Operator) -> None:
        """Nothing: the local reversal is the whole undo."""
