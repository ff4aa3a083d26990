"""Refund a paid bill, in full or by line.

By line: the whole settlement is reversed and the remaining lines are settled again under the
derived key `<reversal_key>:rest`, in the same transaction, so that caps, deductibles and the
personal account are recomputed as if the refunded lines had never been billed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from facepay.hospital.bills import PostedBill
from facepay.services.context import Services
from facepay.services.payments import Receipt


@dataclass(frozen=True)
class Refund:
    """The reversal, and the re-settlement of the remaining lines when refunding by line."""

    bill: PostedBill
    reversal: Receipt
    resettlement: Receipt | None


def refund_bill(
    *,
    ctx: Services,
    hospital_id: str,
    actor: str,
    bill_id: str,
    reversal_key: str,
    line_codes: Sequence[str] | None = None,
) -> Refund:
    """Reverse a paid bill's settlement (all lines, or only `line_codes`), once per key."""
    raise NotImplementedError
