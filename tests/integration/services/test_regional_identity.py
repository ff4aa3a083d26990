"""One enrolment, every member site: consent reach, scoped 1:N, erasure everywhere, and a
second worker's gallery following the template journal - real database, real face model."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import Engine

from facepay.services.admin import register_hospital
from facepay.services.consent import withdraw_consent
from facepay.services.context import Services
from facepay.services.gallery_sync import follow_journal, load_gallery
from facepay.services.identification import identify
from facepay.shared.errors import Conflict, NotFound

pytestmark = pytest.mark.slow


def _enrol(ctx: Services, kit: ModuleType, person, capture, chip_photos, site: str, reach):
    return kit.enrol(ctx, person, capture, chip_photos, site, reach=reach)


def _second_worker(ctx: Services, kit: ModuleType, engine: Engine, tmp_path: Path) -> Services:
    """Another server process's services: the same database and key, a gallery of its own."""
    folder = tmp_path / "worker-2"
    folder.mkdir()
    return dataclasses.replace(kit.make_services(engine, ctx.engine, folder), sealer=ctx.sealer)


def _who(ctx: Services, capture, site: str) -> str | None:
    result = identify(ctx=ctx, hospital_id=site, actor="kiosk", capture=capture)
    return result.person_id if result.decision == "match" else result.decision


def test_a_regional_enrolment_pays_at_every_site_and_a_site_one_only_at_its_own(
    ctx: Services, kit: ModuleType, captures, chip_photos
) -> None:
    obama = _enrol(ctx, kit, kit.OBAMA, captures["obama"], chip_photos, "h1", "region")
    biden = _enrol(ctx, kit, kit.BIDEN, captures["biden"], chip_photos, "h1", "site")
    assert _who(ctx, captures["obama3"], "h2") == obama.person_id
    assert _who(ctx, captures["obama3"], "h1") == obama.person_id
    assert _who(ctx, captures["biden"], "h1") == biden.person_id
    assert _who(ctx, captures["biden"], "h2") == "no_match"  # h1's own enrolment only
    with ctx.uow() as uow:
        scopes = {t.person_id: t.scope for t in uow.templates.of_person(obama.person_id)}
        consents = uow.consents.active_of_person(biden.person_id)
    assert scopes == {obama.person_id: "region:rgn-default"}
    assert [c.consent.reach for c in consents] == ["site"]

    # Enrolled for the region already: a second enrolment at another site is refused.
    with pytest.raises(Conflict) as again:
        _enrol(ctx, kit, kit.OBAMA, captures["obama"], chip_photos, "h2", "site")
    assert again.value.code == "already_enrolled"
    # Another site cannot withdraw (or learn of) h1's site-only enrolment.
    with pytest.raises(NotFound):
        withdraw_consent(ctx=ctx, hospital_id="h2", actor="x", person_id=biden.person_id)


def test_withdrawing_at_any_site_erases_the_regional_template_everywhere_at_once(
    ctx: Services, kit: ModuleType, captures, chip_photos, engine: Engine, tmp_path: Path
) -> None:
    obama = _enrol(ctx, kit, kit.OBAMA, captures["obama"], chip_photos, "h1", "region")
    # A second worker process: its own gallery, loaded now, holding Obama's template.
    other = _second_worker(ctx, kit, engine, tmp_path)
    load_gallery(ctx=other)
    assert obama.template_id in other.gallery
    erased = withdraw_consent(ctx=ctx, hospital_id="h2", actor="desk-2", person_id=obama.person_id)
    assert erased.record.templates_deleted == 1
    # The second worker has not followed the journal yet and still holds the vector: the row
    # check inside its identification answers no_match all the same.
    assert obama.template_id in other.gallery
    assert _who(other, captures["obama3"], "h1") == "no_match"
    assert follow_journal(ctx=other).removed == 1
    assert obama.template_id not in other.gallery


def test_an_enrolment_on_one_worker_reaches_another_through_the_journal(
    ctx: Services, kit: ModuleType, captures, chip_photos, engine: Engine, tmp_path: Path
) -> None:
    other = _second_worker(ctx, kit, engine, tmp_path)
    load_gallery(ctx=other)
    biden = _enrol(ctx, kit, kit.BIDEN, captures["biden"], chip_photos, "h1", "region")
    assert _who(other, captures["biden"], "h2") == "no_match"  # not followed yet
    followed = follow_journal(ctx=other)
    assert (followed.added, followed.removed) == (1, 0)
    assert _who(other, captures["biden"], "h2") == biden.person_id
    assert follow_journal(ctx=other).added == 0  # applied once


def test_a_regional_enrolment_supersedes_site_templates_and_service_centres_default_to_it(
    ctx: Services, kit: ModuleType, captures, chip_photos
) -> None:
    site_only = _enrol(ctx, kit, kit.BIDEN, captures["biden"], chip_photos, "h1", "site")
    regional = _enrol(ctx, kit, kit.BIDEN, captures["biden"], chip_photos, "h2", "region")
    with ctx.uow() as uow:
        held = [(t.id, t.scope) for t in uow.templates.of_person(regional.person_id)]
    assert held == [(regional.template_id, "region:rgn-default")]
    assert site_only.template_id not in ctx.gallery
    assert _who(ctx, captures["biden"], "h1") == regional.person_id

    register_hospital(ctx=ctx, actor="op", name="Centre", hospital_id="c1", kind="service_centre")
    obama = _enrol(ctx, kit, kit.OBAMA, captures["obama"], chip_photos, "c1", None)
    with ctx.uow() as uow:
        (template,) = uow.templates.of_person(obama.person_id)
    assert template.scope == "region:rgn-default"
    assert _who(ctx, captures["obama3"], "h1") == obama.person_id
