"""What enrolment and identification refuse, on a real database with the real face model."""

from __future__ import annotations

from types import ModuleType

import pytest
from sqlalchemy import Engine, text

from facepay.services.bills import post_bill, presettle
from facepay.services.consent import withdraw_consent
from facepay.services.context import Services
from facepay.services.identification import identify
from facepay.shared.errors import Conflict, InvalidInput, NotFound
from facepay.supervision.alerts import DUPLICATE_FACE, POSSIBLE_DUPLICATE_FACE

pytestmark = pytest.mark.slow


def test_refusals(ctx: Services, kit: ModuleType, captures, chip_photos, engine: Engine) -> None:
    def enrol(person, capture, hospital="h1"):
        return kit.enrol(ctx, person, capture, chip_photos, hospital)

    def count(table: str) -> int:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())

    obama = enrol(kit.OBAMA, captures["obama"])

    # Biden's card, Obama in front of the camera: the face does not match the ID photo.
    with pytest.raises(InvalidInput) as mismatch:
        enrol(kit.BIDEN, captures["obama"])
    assert mismatch.value.code == "face_id_mismatch"

    # A printed photo of Obama held up to a depth + IR terminal.
    with pytest.raises(InvalidInput) as attack:
        enrol(kit.BIDEN, captures["obama_print"])
    assert attack.value.code == "liveness_spoof"

    # Obama again under another ID number (his photo on that card's chip): refused, alerted.
    with pytest.raises(Conflict) as duplicate:
        enrol(kit.OBAMA_AGAIN, captures["obama"])
    assert duplicate.value.code == DUPLICATE_FACE
    with ctx.uow() as uow:
        alerts = uow.alerts.of_hospital("h1", kind=DUPLICATE_FACE)
    assert len(alerts) == 1
    assert alerts[0].details["already_enrolled_as"] == [obama.person_id]
    assert (count("face_templates"), count("biometric_consents")) == (1, 1)
    assert len(ctx.gallery) == 1

    # Another hospital neither finds Obama's face nor reads his bill or consent.
    elsewhere = identify(ctx=ctx, hospital_id="h2", actor="kiosk-9", capture=captures["obama"])
    assert elsewhere.decision == "no_match"
    posted = post_bill(
        ctx=ctx,
        hospital_id="h1",
        actor="his",
        id_number=kit.OBAMA.card.id_number,
        external_ref="v1",
        bill=kit.bill(10_000),
    )
    with pytest.raises(NotFound):
        presettle(ctx=ctx, hospital_id="h2", bill_id=posted.id)
    with pytest.raises(NotFound):
        withdraw_consent(ctx=ctx, hospital_id="h2", actor="x", person_id=obama.person_id)

    # No image bytes and no raw embedding anywhere in the database: only the sealed template.
    with ctx.uow() as uow:
        (record,) = uow.templates.of_person(obama.person_id)
    raw = ctx.sealer.open(record.sealed, template_id=record.id, model_version=record.model_version)
    assert len(raw) == 128 * 4
    with engine.connect() as conn:
        for table in ("audit_log", "alerts", "identifications", "biometric_consents", "bills"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        pytest.fail(f"binary value in {table}")
                    assert kit.OBAMA.card.id_number not in str(value) or table == "bills"


def test_the_same_face_from_another_photo_is_never_enrolled_silently(
    ctx: Services, kit: ModuleType, captures, chip_photos
) -> None:
    """Obama live from obama2.jpg, then again from obama3.jpg under another ID number.

    Re-captured faces of one person score on either side of the 0.93 threshold (synthetic kiosk
    captures of these two photos scored 0.904-0.97), so the second enrolment is either refused as
    a duplicate or stored with a review alert naming the first person: never silently.
    """
    obama = kit.enrol(ctx, kit.OBAMA, captures["obama"], chip_photos)
    try:
        kit.enrol(ctx, kit.OBAMA_AGAIN, captures["obama3"], chip_photos)
    except Conflict as refused:
        code = refused.code
    else:
        code = "enrolled"
    kind, key = {
        DUPLICATE_FACE: (DUPLICATE_FACE, "already_enrolled_as"),
        "enrolled": (POSSIBLE_DUPLICATE_FACE, "resembles"),
    }[code]
    with ctx.uow() as uow:
        alerts = uow.alerts.of_hospital("h1", kind=kind)
    assert len(alerts) == 1
    assert alerts[0].details[key] == [obama.person_id]
