"""The lookup use cases on the in-memory store: pages cover a listing once, in (created_at, id)
order; another hospital's objects are not found; a hospital finds by ID number only the persons
its own records already name."""

from __future__ import annotations

from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from facepay.services import lookups
from facepay.services.admin import create_staff_user, register_terminal
from facepay.services.bills import post_bill
from facepay.shared.errors import NotFound

HASH = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA"


def _terminals(world: Any, hospital: str, count: int, *, tick: bool) -> list[str]:
    made = []
    for n in range(count):
        if tick:
            world.clock.set(world.clock.now() + timedelta(seconds=1))
        made.append(
            register_terminal(
                ctx=world.ctx,
                actor="admin",
                hospital_id=hospital,
                name=f"t{n}",
                public_key=bytes(32),
                kind=("kiosk", "window", "his")[n % 3],
            )
        )
    return [t.id for t in made]


def _all_pages(world: Any, hospital: str, limit: int) -> list[list[str]]:
    pages, after = [], None
    while True:
        page = lookups.list_terminals(ctx=world.ctx, hospital_id=hospital, after=after, limit=limit)
        pages.append([t.id for t in page.items])
        if page.next is None:
            return pages
        after = page.next


@pytest.mark.parametrize("tick", [True, False], ids=["clock-moves", "same-instant"])
def test_pages_cover_the_listing_once_in_order(world: Any, tick: bool) -> None:
    made = _terminals(world, "h1", 7, tick=tick)
    _terminals(world, "h2", 2, tick=tick)
    pages = _all_pages(world, "h1", 3)
    assert [len(p) for p in pages] == [3, 3, 1]
    seen = [terminal_id for page in pages for terminal_id in page]
    # Same instant: the id breaks the tie; a moving clock: registration order.
    assert seen == (made if tick else sorted(made))
    assert _all_pages(world, "h1", 7) == [seen]  # exactly full: no empty page after it


def test_another_hospitals_terminal_and_staff_are_not_found(world: Any) -> None:
    (theirs,) = _terminals(world, "h2", 1, tick=False)
    with pytest.raises(NotFound):
        lookups.get_terminal(ctx=world.ctx, hospital_id="h1", terminal_id=theirs)
    assert lookups.get_terminal(ctx=world.ctx, hospital_id="h2", terminal_id=theirs).kind == "kiosk"
    user = create_staff_user(
        ctx=world.ctx, actor="admin", hospital_id="h2", username="c2", password_hash=HASH,
        role="cashier",
    )  # fmt: skip
    with pytest.raises(NotFound):
        lookups.get_staff(ctx=world.ctx, hospital_id="h1", staff_id=user.id)
    page = lookups.list_staff(ctx=world.ctx, hospital_id="h1", after=None, limit=50)
    assert user.id not in [u.id for u in page.items]


def test_a_hospital_finds_only_its_own_patients_by_id_number(world: Any, kit: ModuleType) -> None:
    alice, bob = kit.person_number(10), kit.person_number(20)
    for number in (alice, bob):
        assert lookups.find_person(ctx=world.ctx, id_number=number, hospital_id="h1") is None
        assert lookups.find_person(ctx=world.ctx, id_number=number, hospital_id=None) is not None
    post_bill(ctx=world.ctx, hospital_id="h1", actor="his", id_number=alice, external_ref="r1",
              bill=kit.outpatient_bill(10_000))  # fmt: skip
    kit.enrol(world, 20, "Bob", 20, hospital="h2")
    found = lookups.find_person(ctx=world.ctx, id_number=alice, hospital_id="h1")
    assert found is not None
    assert found.id == world.people["Alice"]
    assert lookups.find_person(ctx=world.ctx, id_number=alice, hospital_id="h2") is None
    assert lookups.find_person(ctx=world.ctx, id_number=bob, hospital_id="h2") is not None
    assert lookups.find_person(ctx=world.ctx, id_number=bob, hospital_id="h1") is None


def test_a_bill_is_found_by_reference_in_its_own_hospital_only(world: Any, kit: ModuleType) -> None:
    posted = post_bill(ctx=world.ctx, hospital_id="h1", actor="his",
                       id_number=kit.person_number(10), external_ref="HIS-7",
                       bill=kit.outpatient_bill(10_000))  # fmt: skip
    found = lookups.find_bill(ctx=world.ctx, hospital_id="h1", external_ref="HIS-7")
    assert found is not None
    assert found.id == posted.id
    assert lookups.find_bill(ctx=world.ctx, hospital_id="h2", external_ref="HIS-7") is None
    assert lookups.find_bill(ctx=world.ctx, hospital_id="h1", external_ref="HIS-8") is None
