"""Identification and the enrolment duplicate screen search the faces that may match, however
many other hospitals hold the same face. Before, the 1:N search took a global top 10 and then
kept the caller's hospital: a patient enrolled at 13 hospitals got `no_match` at their own."""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any

import pytest

from facepay.services.admin import register_hospital
from facepay.services.identification import identify
from facepay.supervision.alerts import POSSIBLE_DUPLICATE_FACE

HOSPITALS = [f"hx{i:02d}" for i in range(25)]


@pytest.fixture
def everywhere(world: Any, kit: ModuleType) -> Any:
    """Alice enrolled at 25 hospitals."""
    for hospital in HOSPITALS:
        register_hospital(ctx=world.ctx, actor="platform", name=hospital, hospital_id=hospital)
        kit.enrol(world, 10, "Alice", 10, hospital)
    return world


@pytest.mark.parametrize("hospital", [HOSPITALS[0], HOSPITALS[12], HOSPITALS[-1]])
def test_a_face_enrolled_at_25_hospitals_is_found_at_each(
    everywhere: Any, kit: ModuleType, hospital: str
) -> None:
    for _ in range(4):
        found = identify(
            ctx=everywhere.ctx,
            hospital_id=hospital,
            actor="kiosk",
            capture=kit.capture_of(10, everywhere.clock),
        )
        assert (found.decision, found.person_id) == ("match", everywhere.people["Alice"])


def test_a_hospital_where_the_face_is_not_enrolled_finds_nobody(
    everywhere: Any, kit: ModuleType
) -> None:
    found = identify(
        ctx=everywhere.ctx, hospital_id="h1", actor="kiosk",
        capture=kit.capture_of(10, everywhere.clock),
    )  # fmt: skip
    assert found.decision == "no_match"


def test_the_duplicate_screen_sees_past_one_persons_many_templates(
    world: Any, kit: ModuleType
) -> None:
    # Widen the review band to every other face, so that Bob "resembles" Alice: each of her
    # enrolments must be put before a supervisor, the 25th as much as the first, although by
    # then her own 24 templates are the closest faces to her new one.
    world.ctx = dataclasses.replace(
        world.ctx,
        settings=world.ctx.settings.model_copy(update={"duplicate_review_threshold": -1.0}),
    )
    kit.enrol(world, 20, "Bob", 20, "h1")
    for hospital in HOSPITALS:
        register_hospital(ctx=world.ctx, actor="platform", name=hospital, hospital_id=hospital)
        kit.enrol(world, 10, "Alice", 10, hospital)
    flagged = [
        alert.details["resembles"]
        for hospital in HOSPITALS
        for alert in world.store.alerts.of_hospital(hospital, kind=POSSIBLE_DUPLICATE_FACE)
    ]
    assert flagged == [[world.people["Bob"]]] * len(HOSPITALS)
