"""The HIS's day read from a FHIR R4 PaymentReconciliation: payments and refunds by the HIS's
invoice identifier, exact fen, and a clear refusal of anything else."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from facepay.adapters.fhir.his_day import PAYMENT_TYPE, his_entries, read_his_day
from facepay.shared.errors import FacepayError


def _detail(key: str, code: str, value: Any) -> dict[str, Any]:
    return {
        "identifier": {"system": "urn:his:invoice", "value": key},
        "type": {"coding": [{"system": PAYMENT_TYPE, "code": code}]},
        "amount": {"value": value, "currency": "CNY"},
    }


def _day(*details: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "PaymentReconciliation",
        "status": "active",
        "created": "2026-12-01T23:00:00+08:00",
        "paymentDate": "2026-12-01",
        "paymentAmount": {"value": Decimal("0"), "currency": "CNY"},
        "detail": list(details),
    }


def test_payments_and_refunds_in_exact_fen() -> None:
    entries = his_entries(
        _day(
            _detail("INV-1", "payment", Decimal("123.45")),
            _detail("INV-1", "adjustment", Decimal("-20.05")),
            _detail("INV-2", "payment", 7),
        )
    )
    assert [(e.key, e.kind, e.amounts) for e in entries] == [
        ("INV-1", "payment", {"amount": 12_345}),
        ("INV-1", "refund", {"amount": 2_005}),
        ("INV-2", "payment", {"amount": 700}),
    ]


@pytest.mark.parametrize(
    ("detail", "says"),
    [
        (_detail("INV-1", "payment", Decimal("1.234")), "at most two decimals"),
        (_detail("INV-1", "payment", 1.5), "a number of yuan"),
        (_detail(" ", "payment", 1), "identifier"),
        (_detail("INV-1", "advance", 1), "payment or adjustment"),
        ({**_detail("INV-1", "payment", 1), "amount": {"value": 1, "currency": "USD"}}, "CNY"),
    ],
)
def test_anything_else_is_refused_naming_the_detail(detail: dict[str, Any], says: str) -> None:
    with pytest.raises(FacepayError, match=says):
        his_entries(_day(detail))


def test_not_a_payment_reconciliation_or_not_fhir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FacepayError, match="PaymentReconciliation"):
        his_entries({"resourceType": "Invoice", "status": "issued"})
    with pytest.raises(FacepayError, match="does not conform"):
        his_entries({"resourceType": "PaymentReconciliation", "detail": []})
    garbage = tmp_path / "day.json"
    garbage.write_bytes(b"\xff not json")
    with pytest.raises(FacepayError, match="JSON"):
        read_his_day(garbage)
    with pytest.raises(FacepayError, match="No such file"):
        read_his_day(tmp_path / "missing.json")


def test_a_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "day.json"
    day = _day(_detail("INV-9", "payment", Decimal("0.10")))
    path.write_text(json.dumps(day, default=str).replace('"0.10"', "0.10").replace('"0"', "0"))
    assert [e.amounts["amount"] for e in read_his_day(path)] == [10]
