"""A use case named for a hospital that does not exist is refused before it changes anything."""

from __future__ import annotations

import copy

import pytest

from facepay.services.admin import create_staff_user, register_terminal
from facepay.services.bills import post_bill
from facepay.services.identification import identify_by_credentials
from facepay.shared.errors import NotFound


def test_unknown_hospital_is_not_found_and_nothing_changes(world, kit) -> None:
    number = kit.person_number(10)  # Alice, registered by the `world` fixture
    store = world.store

    def state() -> tuple[object, ...]:
        tenants = store.tenants
        return copy.deepcopy(
            (
                tenants.hospitals,
                tenants.terminals,
                tenants.staff,
                store.bills.rows,
                store.identifications.rows,
                store.audit.entries,
            )
        )

    before = state()
    calls = [
        lambda: register_terminal(
            ctx=world.ctx, actor="admin", hospital_id="h9", name="kiosk", public_key=bytes(32)
        ),
        lambda: create_staff_user(
            ctx=world.ctx,
            actor="admin",
            hospital_id="h9",
            username="cashier",
            password_hash="$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA",
            role="cashier",
        ),
        lambda: identify_by_credentials(
            ctx=world.ctx,
            hospital_id="h9",
            actor="desk",
            id_number=number,
            insurance_card_number="CARD0010",
        ),
        lambda: post_bill(
            ctx=world.ctx,
            hospital_id="h9",
            actor="his",
            id_number=number,
            external_ref="HIS-1",
            bill=kit.outpatient_bill(10_000),
        ),
    ]
    for call in calls:
        with pytest.raises(NotFound, match="no such hospital"):
            call()
    assert state() == before
