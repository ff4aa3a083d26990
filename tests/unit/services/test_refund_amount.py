"""The amount a refund asks for, which the refund limit is checked against, comes from the stored
bill's lines (services.refunds.refund_amount), not from the route or the client."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

from facepay.services.bills import post_bill
from facepay.services.refunds import refund_amount, requested_fen
from facepay.shared.errors import NotFound


def posted(world: Any, kit: ModuleType) -> str:
    kit.register(world, 11, "Bea")
    bill = post_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="his",
        id_number=kit.person_number(11),
        external_ref="rx-11",
        bill=kit.outpatient_bill(30_000),
    )
    return bill.id


@pytest.mark.parametrize(
    ("line_codes", "fen"),
    [(None, 35_000), (["A1", "C1"], 35_000), (["C1"], 5_000), (["A1"], 30_000), (["ZZ"], 1)],
)
def test_the_amount_is_the_named_lines_of_the_stored_bill(
    world: Any, kit: ModuleType, line_codes: list[str] | None, fen: int
) -> None:
    bill_id = posted(world, kit)
    amount = refund_amount(ctx=world.ctx, hospital_id="h1", bill_id=bill_id, line_codes=line_codes)
    assert amount == fen


def test_another_hospitals_bill_has_no_amount(world: Any, kit: ModuleType) -> None:
    bill_id = posted(world, kit)
    with pytest.raises(NotFound):
        refund_amount(ctx=world.ctx, hospital_id="h2", bill_id=bill_id)


def test_line_amounts_round_half_up_to_whole_fen(kit: ModuleType) -> None:
    bill = kit.outpatient_bill(333)
    drug = dataclasses.replace(bill.lines[0], quantity=Decimal("1.5"))  # 499.5 fen
    assert requested_fen(dataclasses.replace(bill, lines=(drug,)), None) == 500
