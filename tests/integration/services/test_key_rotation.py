"""Rotating the template key (facepay.services.key_rotation) on both databases, through the real
sealer and services: every template and the gallery file end up under the new key alone, the
old key is retired, a "server" (its own keyring on the same files) keeps enrolling and
identifying throughout, and a rotation interrupted at any step - a server started at that very
moment included - finishes when it is run again."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from tests.integration.services import installation as kit

from facepay.adapters.crypto import (
    TemplateKeyring,
    TemplateSealer,
    new_key,
    next_key_file,
    previous_key_file,
    read_key_file,
    write_key_file,
)
from facepay.adapters.db.sealed_rows import SqlAlchemySealedRows
from facepay.bootstrap import build_gallery
from facepay.gallery.persistence import read_gallery_file
from facepay.services import key_rotation
from facepay.services.audit import verify_audit
from facepay.services.context import Services
from facepay.services.gallery_sync import load_gallery
from facepay.services.key_rotation import SealedRow, rotate_template_key
from facepay.services.template_integrity import check_templates, require_template_key
from facepay.shared.errors import ConfigurationError


class Crash(BaseException):
    """Stands for the process dying at this point (not an Exception: nothing catches it)."""


@pytest.fixture
def site(engine: Engine, database_url: str, tmp_path: Path) -> Services:
    """A populated installation; its services stand for the running server."""
    url = None if engine.dialect.name == "sqlite" else database_url
    ctx = kit.services(engine, tmp_path, database_url=url)
    kit.populate(ctx)
    return ctx


def _rotate(
    ctx: Services, engine: Engine, *, rows: Any = None, **options: Any
) -> key_rotation.RotationReport:
    options.setdefault("grace", 0.0)
    return rotate_template_key(
        ctx=ctx,
        key_file=ctx.settings.resolved_template_key_file(),
        rows=rows or SqlAlchemySealedRows(engine),
        gallery_path=ctx.gallery_path,
        **options,
    )


def _restart(ctx: Services) -> Services:
    """The server started again: a new keyring from the files, the gallery loaded from disk."""
    settings = ctx.settings
    fresh = dataclasses.replace(
        ctx,
        sealer=TemplateKeyring(settings.resolved_template_key_file()),
        gallery=build_gallery(settings, dim=128, model_version=kit.MODEL),
        gallery_lock=threading.Lock(),
    )
    require_template_key(ctx=fresh, sealer=fresh.sealer, model_version=kit.MODEL)
    load_gallery(ctx=fresh)
    return fresh


def _assert_rotated_to(ctx: Services, engine: Engine, new_id: str) -> None:
    key_file = ctx.settings.resolved_template_key_file()
    assert not previous_key_file(key_file).exists()
    assert not next_key_file(key_file).exists()
    only = TemplateSealer(read_key_file(key_file))
    assert only.key_id == new_id
    assert key_file.stat().st_mode & 0o777 == 0o600
    rows = SqlAlchemySealedRows(engine).after("", limit=1_000_000)
    for row in rows:  # every template opens under the new key alone
        only.open(row.sealed, template_id=row.id, model_version=row.model_version)
    held = read_gallery_file(ctx.gallery_path, only, model_version=kit.MODEL, dim=128)
    assert set(held.template_ids) == {r.id for r in rows}
    with ctx.uow() as uow:
        assert uow.tenants.installation_value("template_key_id") == new_id
        assert not uow.tenants.installation_value("template_key_retiring")
    report = check_templates(ctx=ctx, sealer=TemplateKeyring(key_file), model_version=kit.MODEL)
    assert (report.key_id, report.quarantined) == (new_id, [])
    assert verify_audit(ctx=ctx).ok


def test_a_rotation_reseals_everything_and_retires_the_old_key(
    site: Services, engine: Engine
) -> None:
    old = site.sealer.key_id
    report = _rotate(site, engine, batch_size=4)
    assert report.old_key_id == old
    assert report.new_key_id != old
    assert report.resealed == 13
    assert report.unreadable == []
    assert report.gallery == "resealed"
    assert report.passes == 2  # the second pass found nothing left
    _assert_rotated_to(site, engine, report.new_key_id)
    restarted = _restart(site)
    assert load_gallery(ctx=restarted).source == "file"
    with site.uow() as uow:
        assert uow.tenants.installation_value("template_key_retired") == old
    # A second run is a second rotation, not a no-op.
    again = _rotate(site, engine)
    assert again.old_key_id == report.new_key_id
    _assert_rotated_to(site, engine, again.new_key_id)


def test_a_running_server_keeps_enrolling_and_identifying_while_the_key_rotates(
    site: Services, engine: Engine
) -> None:
    kit.add_many_templates(site.sealer, engine, 300)
    load_gallery(ctx=site)  # the server's gallery holds them all
    outcome: dict[str, Any] = {}

    def rotate() -> None:
        try:
            outcome["report"] = _rotate(site, engine, batch_size=25, pause=0.02, grace=1.2)
        except BaseException as error:  # reported below
            outcome["error"] = error

    rotation = threading.Thread(target=rotate)
    rotation.start()
    enrolled, identified, serial = [], 0, 50_000
    probe = kit.unit_vector(3)
    while rotation.is_alive():
        enrolled.append(kit.enrol_like_a_server(site, serial))
        serial += 1
        hits = site.gallery.search(probe, 1, scopes={"site:h1"})
        assert hits[0].template_id == "tpl_000003_h1"
        identified += 1
        # A server started in the middle of the rotation starts (both keys open).
        if serial == 50_003:
            assert load_gallery(ctx=_restart(site)).templates >= 313
        time.sleep(0.05)
    rotation.join()
    assert "error" not in outcome, outcome.get("error")
    report = outcome["report"]
    assert len(enrolled) >= 3
    assert identified == len(enrolled)
    _assert_rotated_to(site, engine, report.new_key_id)
    restarted = _restart(site)
    loaded = load_gallery(ctx=restarted)
    assert (loaded.source, loaded.templates) == ("file", 313 + len(enrolled))
    # The server sealed under the new key as soon as it saw it: after the rotation it needs
    # nothing but the new key.
    kit.enrol_like_a_server(site, serial + 1)
    _assert_rotated_to(site, engine, report.new_key_id)


class _CrashingRows:
    """The real rows, dying after `after` batches were written."""

    def __init__(self, inner: SqlAlchemySealedRows, after: int) -> None:
        self.inner, self.left = inner, after

    def after(self, template_id: str, *, limit: int) -> list[SealedRow]:
        return self.inner.after(template_id, limit=limit)

    def replace(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        if self.left == 0:
            raise Crash
        self.left -= 1
        return self.inner.replace(changes)


def _crash_on_call(monkeypatch: pytest.MonkeyPatch, name: str, call: int, *, after: bool) -> None:
    """Make key_rotation.`name` die on its `call`-th call, before or after doing its work."""
    real: Callable[..., Any] = getattr(key_rotation, name)
    calls = [0]

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == call and not after:
            raise Crash
        result = real(*args, **kwargs)
        if calls[0] == call:
            raise Crash
        return result

    monkeypatch.setattr(key_rotation, name, dying)


CRASH_POINTS = {
    "after the new key is written": ("write_key_file", 1, True),
    "after the old key is kept": ("write_key_file", 2, True),
    "after the switch": ("fsync_folder", 1, False),
    "after the database records it": ("rows", 0, False),
    "in the middle of a pass": ("rows", 2, False),
    "after the passes": ("_reseal_gallery", 1, False),
    "after the gallery": ("_retire", 1, False),
    "after the database forgets the old key": ("_remove", 1, False),
}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_a_rotation_that_died_anywhere_finishes_when_run_again(
    site: Services, engine: Engine, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    old = site.sealer.key_id
    name, call, after = CRASH_POINTS[point]
    rows: Any = SqlAlchemySealedRows(engine)
    if name == "rows":
        rows = _CrashingRows(rows, call)
    else:
        _crash_on_call(monkeypatch, name, call, after=after)
    with pytest.raises(Crash):
        _rotate(site, engine, rows=rows, batch_size=3)
    monkeypatch.undo()
    # A server (re)started at this very moment starts, and every template opens.
    restarted = _restart(site)
    report = check_templates(ctx=restarted, sealer=restarted.sealer, model_version=kit.MODEL)
    assert report.quarantined == []
    kit.enrol_like_a_server(restarted, 60_000)
    # Run again: it finishes.
    done = _rotate(site, engine)
    assert done.old_key_id == old or done.completed_earlier
    final = done.new_key_id
    assert final != old
    if done.completed_earlier:
        assert point == "after the database forgets the old key"
    _assert_rotated_to(site, engine, final)


def test_a_server_refuses_to_start_mid_rotation_without_the_retiring_key(
    site: Services, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _crash_on_call(monkeypatch, "_reseal_gallery", 1, after=False)
    with pytest.raises(Crash):
        _rotate(site, engine)
    monkeypatch.undo()
    key_file = site.settings.resolved_template_key_file()
    kept = read_key_file(previous_key_file(key_file))
    previous_key_file(key_file).unlink()
    with pytest.raises(ConfigurationError) as refused:
        _restart(site)
    assert "rotation is under way" in refused.value.message
    assert "template.key.previous" in refused.value.message
    with pytest.raises(ConfigurationError) as again:
        _rotate(site, engine)
    assert "template.key.previous is missing" in again.value.message
    write_key_file(previous_key_file(key_file), kept)
    _assert_rotated_to(site, engine, _rotate(site, engine).new_key_id)


def test_a_stray_previous_key_is_not_overwritten(site: Services, engine: Engine) -> None:
    key_file = site.settings.resolved_template_key_file()
    stray = new_key()
    write_key_file(previous_key_file(key_file), stray)
    with pytest.raises(ConfigurationError) as refused:
        _rotate(site, engine)
    assert "move it away" in refused.value.message
    assert read_key_file(previous_key_file(key_file)) == stray


@pytest.mark.slow
def test_rotation_timing_of_two_thousand_templates(site: Services, engine: Engine) -> None:
    kit.add_many_templates(site.sealer, engine, 2_000)
    load_gallery(ctx=site)
    started = time.monotonic()
    report = _rotate(site, engine, batch_size=500)
    took = time.monotonic() - started
    assert report.resealed == 2_013
    _assert_rotated_to(site, engine, report.new_key_id)
    print(f"\nrotation of {report.resealed} templates on {engine.dialect.name}: {took:.2f} s")
    assert took < 60
