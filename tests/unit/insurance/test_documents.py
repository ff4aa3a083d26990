"""Policies and bills written as interchange JSON read back to the same objects (the offline
library carries them so to the terminal)."""

from __future__ import annotations

import json

from facepay.adapters.interchange import parse_bill, parse_policy, shipped_policies
from facepay.insurance.documents import bill_json, policy_json


def test_every_shipped_policy_round_trips() -> None:
    for policy in shipped_policies():
        assert parse_policy(json.loads(json.dumps(policy_json(policy)))) == policy


def test_a_bill_round_trips() -> None:
    bill = parse_bill(
        {
            "visit_type": "inpatient",
            "hospital_tier": 3,
            "service_date": "2026-05-04",
            "lines": [
                {"code": "A1", "name": "ward", "item_class": "A", "unit_price": 12_000,
                 "quantity": "2.5", "price_ceiling": 10_000},
                {"code": "B1", "name": "drug", "item_class": "B", "unit_price": 3_000,
                 "quantity": "1", "selfpay_ratio": "0.2"},
            ],
        }
    )  # fmt: skip
    assert parse_bill(json.loads(json.dumps(bill_json(bill)))) == bill
