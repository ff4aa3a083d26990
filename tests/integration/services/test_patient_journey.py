"""The patient's journey on a real database with the real face model and FAISS:
enrol -> identify -> presettle -> pay -> refund -> erase -> pay by ID number + insurance card."""

from __future__ import annotations

import random
from dataclasses import replace
from types import ModuleType

import pytest
from sqlalchemy import Engine, text

from facepay.services.audit import verify_audit
from facepay.services.bills import pay_bill, post_bill, presettle
from facepay.services.consent import withdraw_consent
from facepay.services.context import Services
from facepay.services.gallery_sync import load_gallery
from facepay.services.identification import (
    identify,
    identify_by_credentials,
)
from facepay.services.refunds import refund_bill
from facepay.vision.liveness.challenge import issue_challenge
from facepay.vision.liveness.synth.bona_fide import bona_fide_capture

pytestmark = pytest.mark.slow


def test_enrol_identify_pay_refund_erase_then_pay_by_card(
    ctx: Services,
    kit: ModuleType,
    captures,
    chip_photos,
    subjects,
    engine: Engine,
    face_engine,
    tmp_path,
) -> None:
    obama = kit.enrol(ctx, kit.OBAMA, captures["obama"], chip_photos)
    assert obama.verify_score >= ctx.settings.verify_threshold
    kit.enrol(ctx, kit.BIDEN, captures["biden"], chip_photos)

    # An RGB kiosk answers a fresh active challenge.
    # A seeded challenge: with a random one this test failed now and then, when the synthetic
    # face's answer to some challenges was refused (a liveness error rate, measured elsewhere).
    challenge = ctx.challenges.add(
        issue_challenge(now=ctx.clock.now(), rng=random.Random(11), ttl_seconds=30)
    )
    live = bona_fide_capture(
        subjects["obama"],
        challenge=challenge,
        capabilities=kit.KIOSK,
        started_at=ctx.clock.now(),
        rng=random.Random(3),
    )
    found = identify(ctx=ctx, hospital_id="h1", actor="kiosk-1", capture=live)
    assert (found.decision, found.person_id) == ("match", obama.person_id)

    posted = post_bill(
        ctx=ctx,
        hospital_id="h1",
        actor="his",
        id_number=kit.OBAMA.card.id_number,
        external_ref="visit-1",
        bill=kit.bill(300_000),
    )
    shown = presettle(ctx=ctx, hospital_id="h1", bill_id=posted.id)
    paid = pay_bill(
        ctx=ctx,
        hospital_id="h1",
        actor="kiosk-1",
        bill_id=posted.id,
        identification_id=found.identification_id,
        idempotency_key="pay-visit-1",
    )
    assert paid.receipt.record.settlement == shown.settlement
    assert paid.bill.status == "paid"
    s = paid.receipt.record.settlement
    assert s.medfee_sumamt == 305_000 == s.fund_pay_sumamt + s.acct_pay + s.psn_cash_pay

    refund = refund_bill(
        ctx=ctx, hospital_id="h1", actor="cashier-1", bill_id=posted.id, reversal_key="ref-1"
    )
    assert refund.bill.status == "refunded"
    assert refund.reversal.record.status == "reversed"

    erased = withdraw_consent(ctx=ctx, hospital_id="h1", actor="desk-1", person_id=obama.person_id)
    assert erased.record.templates_deleted == 1
    with engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM face_templates")).scalar_one()
        erasures = conn.execute(text("SELECT count(*) FROM erasures")).scalar_one()
    assert (left, erasures) == (1, 1)  # Biden's template stays
    # The sealed gallery file on disk forgot the template too.
    reloaded = kit.make_services(engine, face_engine, tmp_path).gallery
    assert ctx.gallery_path is not None
    reloaded.load(ctx.gallery_path, ctx.sealer)
    assert obama.template_id not in reloaded
    assert len(reloaded) == 1
    again = identify(ctx=ctx, hospital_id="h1", actor="kiosk-1", capture=captures["obama"])
    assert again.decision == "no_match"

    by_card = identify_by_credentials(
        ctx=ctx,
        hospital_id="h1",
        actor="kiosk-1",
        id_number=kit.OBAMA.card.id_number,
        insurance_card_number=kit.OBAMA.insurance_card,
    )
    second = post_bill(
        ctx=ctx,
        hospital_id="h1",
        actor="his",
        id_number=kit.OBAMA.card.id_number,
        external_ref="visit-2",
        bill=kit.bill(10_000),
    )
    paid_by_card = pay_bill(
        ctx=ctx,
        hospital_id="h1",
        actor="kiosk-1",
        bill_id=second.id,
        identification_id=by_card.identification_id,
        idempotency_key="pay-visit-2",
    )
    assert paid_by_card.bill.status == "paid"
    assert verify_audit(ctx=ctx).ok


def test_gallery_file_is_loaded_or_rebuilt_from_the_database(
    ctx: Services, kit: ModuleType, captures, chip_photos, engine: Engine, face_engine, tmp_path
) -> None:
    obama = kit.enrol(ctx, kit.OBAMA, captures["obama"], chip_photos)
    assert ctx.gallery_path is not None
    assert ctx.gallery_path.exists()
    # A restart: same database, key and file; a new, empty gallery object.
    restarted = replace(ctx, gallery=kit.make_services(engine, face_engine, tmp_path).gallery)
    assert load_gallery(ctx=restarted).source == "file"
    assert obama.template_id in restarted.gallery
    ctx.gallery_path.unlink()
    fresh = replace(ctx, gallery=kit.make_services(engine, face_engine, tmp_path).gallery)
    sync = load_gallery(ctx=fresh)
    assert (sync.source, sync.templates) == ("database", 1)
    assert obama.template_id in fresh.gallery
