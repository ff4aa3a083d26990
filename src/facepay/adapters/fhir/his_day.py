"""The HIS's day as a FHIR R4 PaymentReconciliation, for the nightly reconciliation.

The HIS states each payment and refund of the day it knows as one `detail`: `identifier.value`
is its own invoice identifier (what it sent facepay as the Invoice identifier or the DFT's
visit number, facepay's bill `external_ref`), `type` is `payment` or `adjustment` (a refund)
from http://terminology.hl7.org/CodeSystem/payment-type, and `amount` the CNY amount (a refund
may be stated negative). The resource is validated by its model first; amounts are converted
to fen exactly or refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from facepay.adapters.fhir.common import fen_of, parse_json, parse_resource
from facepay.shared.errors import InvalidInput
from facepay.supervision.reconciliation import Entry, EntryKind

PAYMENT_TYPE = "http://terminology.hl7.org/CodeSystem/payment-type"
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_DETAILS = 500_000
_KINDS: dict[str, EntryKind] = {"payment": "payment", "adjustment": "refund"}


def read_his_day(path: Path) -> list[Entry]:
    """The entries of a PaymentReconciliation file (InvalidInput naming what is wrong)."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise InvalidInput(f"--his {path}: {error.strerror}", code="bad_his_day") from None
    if size > MAX_FILE_BYTES:
        raise InvalidInput(
            f"--his {path}: {size} bytes, over {MAX_FILE_BYTES} (one day of one site)",
            code="bad_his_day",
        )
    return his_entries(parse_json(path.read_bytes()))


def his_entries(document: Mapping[str, Any]) -> list[Entry]:
    """The entries of a PaymentReconciliation resource."""
    parse_resource(document, "PaymentReconciliation")
    details = document.get("detail") or []
    if len(details) > MAX_DETAILS:
        raise InvalidInput(f"detail: at most {MAX_DETAILS} entries", code="bad_his_day")
    return [_entry(n, detail) for n, detail in enumerate(details)]


def _entry(n: int, detail: Mapping[str, Any]) -> Entry:
    where = f"detail[{n}]"
    key = (detail.get("identifier") or {}).get("value")
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput(
            f"{where}.identifier.value: the HIS's invoice identifier", code="bad_his_day"
        )
    codes = [
        c.get("code")
        for c in (detail.get("type") or {}).get("coding") or []
        if c.get("system") in (None, PAYMENT_TYPE)
    ]
    kind = next((_KINDS[c] for c in codes if c in _KINDS), None)
    if kind is None:
        raise InvalidInput(
            f"{where}.type: payment or adjustment ({PAYMENT_TYPE})", code="bad_his_day"
        )
    amount = detail.get("amount") or {}
    value = amount.get("value")
    if kind == "refund" and isinstance(value, int | Decimal) and not isinstance(value, bool):
        value = abs(value)
    fen = fen_of(value, amount.get("currency"), f"{where}.amount")
    return Entry(key.strip(), kind, {"amount": fen})
