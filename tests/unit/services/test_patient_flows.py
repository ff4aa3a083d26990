"""Enrol, identify, pay, refund and erase on the in-memory unit of work (logic, fake engine)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from facepay.services.audit import verify_audit
from facepay.services.bills import pay_bill, post_bill, presettle
from facepay.services.consent import withdraw_consent
from facepay.services.enrolment import enrol_patient
from facepay.services.identification import (
    identify,
    identify_by_credentials,
    resolve_second_factor,
)
from facepay.services.ledger import person_balances
from facepay.services.refunds import refund_bill
from facepay.shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from facepay.supervision.alerts import DUPLICATE_FACE, POSSIBLE_DUPLICATE_FACE


def enrol(world: Any, kit: ModuleType, seed: int, name: str, colour: int, hospital: str = "h1"):
    return enrol_patient(
        ctx=world.ctx,
        hospital_id=hospital,
        actor="desk-1",
        id_card=kit.id_card(seed, name),
        chip_photo=kit.photo_of(seed),
        capture=kit.capture_of(colour, world.clock),
        consent=kit.consent(world.clock),
    )


def test_enrol_identify_pay_refund_erase(world: Any, kit: ModuleType) -> None:
    enrolment = enrol(world, kit, 10, "Alice", 10)
    assert enrolment.person_id == world.people["Alice"]
    assert enrolment.template_id in world.ctx.gallery
    stored = world.store.templates.rows[enrolment.template_id]
    assert len(stored.sealed) == 128 * 4 + 28  # sealed float32 vector, nothing else

    found = identify(
        ctx=world.ctx, hospital_id="h1", actor="kiosk", capture=kit.capture_of(10, world.clock)
    )
    assert (found.decision, found.person_id) == ("match", world.people["Alice"])
    assert found.display_name == "A****"

    bill = post_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="his",
        id_number=kit.person_number(10),
        external_ref="rx-1",
        bill=kit.outpatient_bill(300_000),
    )
    shown = presettle(ctx=world.ctx, hospital_id="h1", bill_id=bill.id)
    paid = pay_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="kiosk",
        bill_id=bill.id,
        identification_id=found.identification_id,
        idempotency_key="pay-1",
    )
    assert paid.bill.status == "paid"
    assert paid.receipt.record.settlement == shown.settlement
    again = pay_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="kiosk",
        bill_id=bill.id,
        identification_id=found.identification_id,
        idempotency_key="pay-1",
    )
    assert again.receipt.replayed
    assert again.receipt.record.id == paid.receipt.record.id

    before = person_balances(uow=world.ctx.uow(), person_id=world.people["Alice"])
    refund = refund_bill(
        ctx=world.ctx, hospital_id="h1", actor="cashier", bill_id=bill.id, reversal_key="r-1"
    )
    assert refund.bill.status == "refunded"
    after = person_balances(uow=world.ctx.uow(), person_id=world.people["Alice"])
    assert sum(after.values()) == sum(before.values()) + paid.receipt.record.settlement.acct_pay

    erasure = withdraw_consent(
        ctx=world.ctx, hospital_id="h1", actor="desk-1", person_id=world.people["Alice"]
    )
    assert erasure.record.templates_deleted == 1
    assert enrolment.template_id not in world.ctx.gallery
    assert not world.store.templates.rows
    gone = identify(
        ctx=world.ctx, hospital_id="h1", actor="kiosk", capture=kit.capture_of(10, world.clock)
    )
    assert gone.decision == "no_match"
    by_card = identify_by_credentials(
        ctx=world.ctx,
        hospital_id="h1",
        actor="kiosk",
        id_number=kit.person_number(10),
        insurance_card_number="CARD0010",
    )
    assert by_card.person_id == world.people["Alice"]
    report = verify_audit(ctx=world.ctx)
    assert report.ok
    actions = [e.action for e in world.store.audit.entries]
    for action in ("patient.enrol", "patient.identify", "payment.settle", "payment.refund"):
        assert action in actions
    assert "consent.withdraw" in actions


def test_duplicate_face_is_refused_and_alerted(world: Any, kit: ModuleType) -> None:
    enrol(world, kit, 10, "Alice", 10)
    with pytest.raises(Conflict) as refused:
        # Bob's card, but Alice's face on the chip and in front of the camera
        enrol_patient(
            ctx=world.ctx,
            hospital_id="h1",
            actor="desk-1",
            id_card=kit.id_card(20, "Bob"),
            chip_photo=kit.photo_of(10),
            capture=kit.capture_of(10, world.clock),
            consent=kit.consent(world.clock),
        )
    assert refused.value.code == DUPLICATE_FACE
    alerts = world.store.alerts.of_hospital("h1", kind=DUPLICATE_FACE)
    assert [a.subject for a in alerts] == [world.people["Bob"]]
    assert alerts[0].details["already_enrolled_as"] == [world.people["Alice"]]
    assert len(world.store.templates.rows) == 1
    assert len(world.ctx.gallery) == 1


def test_a_face_in_the_review_band_is_enrolled_and_put_before_a_supervisor(
    world: Any, kit: ModuleType
) -> None:
    alice = enrol(world, kit, 10, "Alice", 10)
    # The fake engine's different people score near 0: widen the review band down to -1 so that
    # Bob's face falls inside it without reaching the refusal threshold.
    world.ctx = dataclasses.replace(
        world.ctx,
        settings=world.ctx.settings.model_copy(update={"duplicate_review_threshold": -1.0}),
    )
    bob = enrol(world, kit, 20, "Bob", 20)
    assert bob.template_id in world.ctx.gallery
    alerts = world.store.alerts.of_hospital("h1", kind=POSSIBLE_DUPLICATE_FACE)
    assert [a.subject for a in alerts] == [bob.person_id]
    assert alerts[0].details["resembles"] == [alice.person_id]
    assert not world.store.alerts.of_hospital("h1", kind=DUPLICATE_FACE)


def test_wrong_face_against_id_photo_and_spoof_are_refused(world: Any, kit: ModuleType) -> None:
    with pytest.raises(InvalidInput) as mismatch:
        enrol(world, kit, 10, "Alice", 20)
    assert mismatch.value.code == "face_id_mismatch"
    world.switch.spoof = True
    with pytest.raises(InvalidInput) as spoof:
        enrol(world, kit, 10, "Alice", 10)
    assert spoof.value.code == "liveness_spoof"
    assert not world.store.templates.rows
    assert not world.store.consents.rows


def test_unknown_person_and_bad_card_are_refused(world: Any, kit: ModuleType) -> None:
    with pytest.raises(NotFound):
        enrol(world, kit, 30, "Carol", 30)
    with pytest.raises(InvalidInput):
        kit.id_card(10, "Alice").__class__("110105198001020211", "X", "M", kit.date(1980, 1, 2))
    with pytest.raises(InvalidInput) as mismatch:
        enrol(world, kit, 10, "Alicia", 10)
    assert mismatch.value.code == "id_card_mismatch"


def test_other_hospital_sees_nothing(world: Any, kit: ModuleType) -> None:
    enrol(world, kit, 10, "Alice", 10)
    elsewhere = identify(
        ctx=world.ctx, hospital_id="h2", actor="kiosk", capture=kit.capture_of(10, world.clock)
    )
    assert elsewhere.decision == "no_match"
    bill = post_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="his",
        id_number=kit.person_number(10),
        external_ref="rx-1",
        bill=kit.outpatient_bill(10_000),
    )
    with pytest.raises(NotFound):
        presettle(ctx=world.ctx, hospital_id="h2", bill_id=bill.id)
    with pytest.raises(NotFound):
        withdraw_consent(
            ctx=world.ctx, hospital_id="h2", actor="x", person_id=world.people["Alice"]
        )
    found = identify(
        ctx=world.ctx, hospital_id="h1", actor="kiosk", capture=kit.capture_of(10, world.clock)
    )
    with pytest.raises(NotFound):
        resolve_second_factor(
            ctx=world.ctx,
            hospital_id="h2",
            actor="k",
            identification_id=found.identification_id,
            last4="1210",
        )


def test_identification_is_single_use_fresh_and_of_the_patient(world: Any, kit: ModuleType) -> None:
    enrol(world, kit, 10, "Alice", 10)
    enrol(world, kit, 20, "Bob", 20)

    def bill(ref: str, seed: int = 10) -> str:
        return post_bill(
            ctx=world.ctx,
            hospital_id="h1",
            actor="his",
            id_number=kit.person_number(seed),
            external_ref=ref,
            bill=kit.outpatient_bill(10_000),
        ).id

    bob = identify(
        ctx=world.ctx, hospital_id="h1", actor="k", capture=kit.capture_of(20, world.clock)
    )
    with pytest.raises(Forbidden) as wrong:
        pay_bill(
            ctx=world.ctx,
            hospital_id="h1",
            actor="k",
            bill_id=bill("a"),
            identification_id=bob.identification_id,
            idempotency_key="k1",
        )
    assert wrong.value.code == "wrong_patient"
    alice = identify(
        ctx=world.ctx, hospital_id="h1", actor="k", capture=kit.capture_of(10, world.clock)
    )
    pay_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="k",
        bill_id=bill("b"),
        identification_id=alice.identification_id,
        idempotency_key="k2",
    )
    with pytest.raises(Conflict) as used:
        pay_bill(
            ctx=world.ctx,
            hospital_id="h1",
            actor="k",
            bill_id=bill("c"),
            identification_id=alice.identification_id,
            idempotency_key="k3",
        )
    assert used.value.code == "identification_used"
    late = identify(
        ctx=world.ctx, hospital_id="h1", actor="k", capture=kit.capture_of(10, world.clock)
    )
    world.clock.set(world.clock.now() + timedelta(minutes=10))
    with pytest.raises(Conflict) as expired:
        pay_bill(
            ctx=world.ctx,
            hospital_id="h1",
            actor="k",
            bill_id=bill("d"),
            identification_id=late.identification_id,
            idempotency_key="k4",
        )
    assert expired.value.code == "identification_expired"


def test_above_the_face_limit_a_second_factor_is_needed(kit: ModuleType) -> None:
    world = kit.make_world(face_pay_limit_fen=50_000)
    kit.register(world, 10, "Alice", account=0)
    enrol(world, kit, 10, "Alice", 10)
    bill = post_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="his",
        id_number=kit.person_number(10),
        external_ref="big",
        bill=kit.outpatient_bill(100_000),
    )
    assert presettle(ctx=world.ctx, hospital_id="h1", bill_id=bill.id).second_factor_required
    found = identify(
        ctx=world.ctx, hospital_id="h1", actor="k", capture=kit.capture_of(10, world.clock)
    )
    args = {"ctx": world.ctx, "hospital_id": "h1", "actor": "k", "bill_id": bill.id}
    args |= {"identification_id": found.identification_id, "idempotency_key": "big-1"}
    for given, code in ((None, "second_factor_required"), ("9999", "second_factor_failed")):
        with pytest.raises(Forbidden) as refused:
            pay_bill(**args, second_factor=given)
        assert refused.value.code == code
    paid = pay_bill(**args, second_factor="1210")  # last 4 of Alice's phone
    assert paid.bill.status == "paid"


def test_ambiguous_identification_is_resolved_among_contenders_only(
    world: Any, kit: ModuleType
) -> None:
    enrol(world, kit, 10, "Alice", 10)
    # Make every identification ambiguous: a band so wide that no score clears it.
    world.ctx = dataclasses.replace(
        world.ctx, settings=world.ctx.settings.model_copy(update={"identify_ambiguity_band": 0.5})
    )
    found = identify(
        ctx=world.ctx, hospital_id="h1", actor="k", capture=kit.capture_of(10, world.clock)
    )
    assert found.needs_second_factor
    assert found.person_id is None
    args = {"ctx": world.ctx, "hospital_id": "h1", "actor": "k"}
    with pytest.raises(Forbidden):
        resolve_second_factor(**args, identification_id=found.identification_id, last4="1220")
    resolved = resolve_second_factor(
        **args, identification_id=found.identification_id, last4="1210"
    )
    assert (resolved.decision, resolved.person_id) == ("match", world.people["Alice"])


def test_refund_by_line_resettles_the_rest(world: Any, kit: ModuleType) -> None:
    enrol(world, kit, 10, "Alice", 10)
    bill = post_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="his",
        id_number=kit.person_number(10),
        external_ref="rx",
        bill=kit.outpatient_bill(300_000),
    )
    found = identify_by_credentials(
        ctx=world.ctx,
        hospital_id="h1",
        actor="k",
        id_number=kit.person_number(10),
        insurance_card_number="CARD0010",
    )
    pay_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="k",
        bill_id=bill.id,
        identification_id=found.identification_id,
        idempotency_key="p",
    )
    refund = refund_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="c",
        bill_id=bill.id,
        reversal_key="r",
        line_codes=["C1"],
    )
    assert refund.resettlement is not None
    assert refund.resettlement.record.settlement.medfee_sumamt == 300_000
    assert [line.code for line in refund.bill.bill.lines] == ["A1"]
    assert refund.bill.status == "paid"
    replay = refund_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="c",
        bill_id=bill.id,
        reversal_key="r",
        line_codes=["C1"],
    )
    assert replay.reversal.replayed
    assert replay.resettlement is not None
    assert replay.resettlement.record.id == refund.resettlement.record.id


def test_one_person_may_enrol_at_two_hospitals_but_once_at_each(
    world: Any, kit: ModuleType
) -> None:
    at_h1 = enrol(world, kit, 10, "Alice", 10, hospital="h1")
    at_h2 = enrol(world, kit, 10, "Alice", 10, hospital="h2")
    assert at_h1.template_id != at_h2.template_id
    with pytest.raises(Conflict) as again:
        enrol(world, kit, 10, "Alice", 10, hospital="h1")
    assert again.value.code == "already_enrolled"
    found = identify(
        ctx=world.ctx, hospital_id="h2", actor="k", capture=kit.capture_of(10, world.clock)
    )
    assert (found.decision, found.person_id) == ("match", world.people["Alice"])
    withdraw_consent(ctx=world.ctx, hospital_id="h1", actor="d", person_id=world.people["Alice"])
    still = identify(
        ctx=world.ctx, hospital_id="h2", actor="k", capture=kit.capture_of(10, world.clock)
    )
    assert still.decision == "match"  # erasure at h1 leaves h2's enrolment alone
