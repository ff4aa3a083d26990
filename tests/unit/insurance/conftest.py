"""Fixtures of the insurance tests: the shipped example policies and small bill builders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from facepay.adapters.interchange import load_policy
from facepay.insurance.model import Bill, BillLine
from facepay.insurance.policy import Policy

POLICIES = Path(__file__).resolve().parents[3] / "src" / "facepay" / "policies"


@pytest.fixture(scope="session")
def employee() -> Policy:
    """The urban-employee policy of INSURANCE.md §3, from the shipped YAML."""
    return load_policy(POLICIES / "employee-2026.yaml")


@pytest.fixture(scope="session")
def resident() -> Policy:
    """The urban–rural resident policy of INSURANCE.md §5, from the shipped YAML."""
    return load_policy(POLICIES / "resident-2026.yaml")


LineMaker = Callable[..., BillLine]
BillMaker = Callable[..., Bill]


@pytest.fixture
def line() -> LineMaker:
    """Build a bill line: line("A", 1000, qty="2", ceiling=800, ratio="0.2")."""

    def make(
        item_class: str,
        unit_price: int,
        *,
        qty: str = "1",
        ceiling: int | None = None,
        ratio: str | None = None,
        code: str = "X",
    ) -> BillLine:
        return BillLine(
            code=code,
            name="",
            item_class=item_class,  # type: ignore[arg-type]
            unit_price=unit_price,
            quantity=Decimal(qty),
            price_ceiling=ceiling,
            selfpay_ratio=Decimal(ratio) if ratio is not None else None,
        )

    return make


@pytest.fixture
def bill() -> BillMaker:
    """Build a bill: bill("inpatient", 3, line1, line2, on=date(2026, 3, 1))."""

    def make(visit_type: str, tier: int, *lines: BillLine, on: date = date(2026, 3, 1)) -> Bill:
        return Bill(
            visit_type=visit_type,  # type: ignore[arg-type]
            hospital_tier=tier,
            service_date=on,
            lines=tuple(lines),
        )

    return make
