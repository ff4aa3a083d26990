"""A site is a hospital (with or without a tier), a pharmacy or a service centre: anything else
is refused before anything is stored."""

from __future__ import annotations

import pytest

from facepay.services.admin import register_hospital
from facepay.shared.errors import InvalidInput


@pytest.mark.parametrize(
    ("kind", "tier"), [("clinic", None), ("pharmacy", "tertiary"), ("hospital", "quaternary")]
)
def test_an_unknown_kind_or_a_misplaced_tier_is_refused(world, kind, tier) -> None:
    with pytest.raises(InvalidInput) as refused:
        register_hospital(
            ctx=world.ctx, actor="op", name="X", hospital_id="x1", kind=kind, tier=tier
        )
    assert refused.value.code == "bad_site_kind"
    with world.ctx.uow() as uow:
        assert uow.tenants.hospital("x1") is None


def test_the_known_kinds_are_stored_with_their_tier(world) -> None:
    register_hospital(ctx=world.ctx, actor="op", name="H", hospital_id="t3", tier="tertiary")
    register_hospital(ctx=world.ctx, actor="op", name="P", hospital_id="p1", kind="pharmacy")
    with world.ctx.uow() as uow:
        hospital, pharmacy = uow.tenants.hospital("t3"), uow.tenants.hospital("p1")
    assert hospital is not None
    assert (hospital.kind, hospital.tier) == ("hospital", "tertiary")
    assert pharmacy is not None
    assert (pharmacy.kind, pharmacy.default_reach) == ("pharmacy", "site")
