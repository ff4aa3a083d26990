"""Corrupt data is reported, quarantined and survived; a wrong key is one clear sentence.

Before: a corrupted, truncated or tampered gallery file was rebuilt from the database with no
log line, alert or audit entry; one damaged sealed template row (or a wrong `template.key`)
stopped the server from starting with a raw traceback and made `facepay audit verify` exit 1 as
if the audit chain were broken.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import structlog
from sqlalchemy import Engine, text

from facepay.adapters.crypto import TemplateSealer
from facepay.services.context import Services
from facepay.services.gallery_sync import load_gallery
from facepay.services.identification import identify
from facepay.services.template_integrity import check_templates
from facepay.shared.errors import ConfigurationError
from facepay.supervision.alerts import TEMPLATE_QUARANTINED

pytestmark = pytest.mark.slow


def _restarted(ctx: Services, kit: ModuleType, engine: Engine, face_engine: Any, folder: Path):
    """The same database, key and gallery file; a new, empty gallery in a new process."""
    return replace(ctx, gallery=kit.make_services(engine, face_engine, folder).gallery)


def _audit(ctx: Services, action: str, chain: str = "platform") -> list[dict[str, Any]]:
    with ctx.uow() as uow:
        return [e.details for e in uow.audit.iterate(chain=chain) if e.action == action]


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_a_damaged_gallery_file_is_rebuilt_and_says_so(
    ctx: Services, kit: ModuleType, captures, chip_photos, engine: Engine, face_engine,
    tmp_path: Path, damage: str,
) -> None:  # fmt: skip
    obama = kit.enrol(ctx, kit.OBAMA, captures["obama"], chip_photos)
    assert ctx.gallery_path is not None
    data = bytearray(ctx.gallery_path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = bytearray(secrets.token_bytes(len(data)))
    ctx.gallery_path.write_bytes(bytes(data))
    restarted = _restarted(ctx, kit, engine, face_engine, tmp_path)
    with structlog.testing.capture_logs() as logs:
        sync = load_gallery(ctx=restarted)
    assert (sync.source, sync.templates) == ("database", 1)
    assert obama.template_id in restarted.gallery
    rebuilds = [line for line in logs if line["event"] == "gallery_rebuilt"]
    assert rebuilds
    assert rebuilds[0]["reason"]
    assert [d["reason"] for d in _audit(ctx, "gallery.rebuild")] == [rebuilds[0]["reason"]]


def _damage_row(engine: Engine, template_id: str) -> None:
    with engine.begin() as conn:
        sealed = bytearray(
            conn.execute(
                text("SELECT sealed FROM face_templates WHERE id = :i"), {"i": template_id}
            ).scalar_one()
        )
        sealed[-1] ^= 0x01
        conn.execute(
            text("UPDATE face_templates SET sealed = :s WHERE id = :i"),
            {"s": bytes(sealed), "i": template_id},
        )


def test_a_damaged_template_row_is_quarantined_and_the_rest_goes_on(
    ctx: Services, kit: ModuleType, captures, chip_photos, engine: Engine, face_engine,
    tmp_path: Path,
) -> None:  # fmt: skip
    obama = kit.enrol(ctx, kit.OBAMA, captures["obama"], chip_photos)
    biden = kit.enrol(ctx, kit.BIDEN, captures["biden"], chip_photos)
    _damage_row(engine, obama.template_id)
    assert ctx.gallery_path is not None
    ctx.gallery_path.unlink()  # a start that has to rebuild from the rows
    restarted = _restarted(ctx, kit, engine, face_engine, tmp_path)
    sync = load_gallery(ctx=restarted)  # no exception: the server starts
    assert sync.templates == 1
    assert obama.template_id not in restarted.gallery
    assert biden.template_id in restarted.gallery
    with ctx.uow() as uow:
        alerts = uow.alerts.of_hospital("h1", kind=TEMPLATE_QUARANTINED)
    assert [a.subject for a in alerts] == [obama.person_id]
    assert _audit(ctx, "template.quarantine", chain="h1")
    report = check_templates(
        ctx=restarted, sealer=restarted.sealer, model_version=restarted.gallery.model_version
    )
    assert [q.template_id for q in report.quarantined] == [obama.template_id]
    assert report.checked == 2
    found = identify(ctx=restarted, hospital_id="h1", actor="k", capture=captures["obama"])
    assert found.decision == "no_match"  # a quarantined template never matches
    again = identify(ctx=restarted, hospital_id="h1", actor="k", capture=captures["biden"])
    assert again.person_id == biden.person_id
    # The patient enrols again: the new template replaces the quarantined one.
    renewed = kit.enrol(restarted, kit.OBAMA, captures["obama"], chip_photos)
    assert renewed.template_id != obama.template_id
    back = identify(ctx=restarted, hospital_id="h1", actor="k", capture=captures["obama"])
    assert back.person_id == obama.person_id


def test_a_wrong_key_is_one_clear_sentence(
    ctx: Services, kit: ModuleType, captures, chip_photos, engine: Engine, face_engine,
    tmp_path: Path,
) -> None:  # fmt: skip
    kit.enrol(ctx, kit.OBAMA, captures["obama"], chip_photos)
    assert ctx.gallery_path is not None
    ctx.gallery_path.unlink()
    wrong = replace(
        _restarted(ctx, kit, engine, face_engine, tmp_path),
        sealer=TemplateSealer(secrets.token_bytes(32)),
    )
    with pytest.raises(ConfigurationError) as refused:
        load_gallery(ctx=wrong)
    assert "key" in refused.value.message
    with engine.connect() as conn:
        quarantined = conn.execute(
            text("SELECT count(*) FROM face_templates WHERE quarantined_at IS NOT NULL")
        ).scalar_one()
    assert quarantined == 0  # a wrong key quarantines nothing
