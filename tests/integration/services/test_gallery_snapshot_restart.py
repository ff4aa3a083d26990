"""A worker restarts from the data folder's gallery snapshot and the journal since it: nothing
is rebuilt, nothing is lost, a removal leaves the base within SNAPSHOT_PURGE_SECONDS, and a
snapshot ahead of the database (a restored backup) is not used."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sqlalchemy import Engine
from tests.integration.services import installation as kit

from facepay.gallery.snapshot import GallerySnapshot
from facepay.services.context import Services
from facepay.services.gallery_sync import SNAPSHOT_PURGE_SECONDS, follow_journal, load_gallery


def _worker(engine: Engine, folder: Path, sealer=None) -> Services:
    """A server process's services with the snapshot of `folder` (as bootstrap wires it)."""
    ctx = kit.services(engine, folder)
    if sealer is not None:
        ctx = dataclasses.replace(ctx, sealer=sealer)
    snapshot = GallerySnapshot(
        folder / "gallery.snapshot",
        ctx.sealer,
        model_version=ctx.gallery.model_version,
        dim=ctx.gallery.dim,
        compact_fraction=100.0,  # a handful of templates: only the erasure purge writes a base
    )
    return dataclasses.replace(ctx, gallery_path=None, snapshot=snapshot)


def test_a_restart_loads_the_snapshot_and_replays_the_journal(
    engine: Engine, tmp_path: Path
) -> None:
    ctx = _worker(engine, tmp_path)
    kit.populate(ctx, people=5)  # its first start rebuilds from the rows and writes a base
    assert (tmp_path / "gallery.snapshot").exists()
    assert not (tmp_path / "gallery.sealed").exists()  # no whole file rewritten per change
    enrolled = [kit.enrol_like_a_server(ctx, serial) for serial in range(900, 903)]
    assert follow_journal(ctx=ctx).position > 0  # the writer records them in the log
    late = kit.enrol_like_a_server(ctx, 903)  # committed, not yet followed: the journal has it

    other = _worker(engine, tmp_path, sealer=ctx.sealer)  # another process, same folder
    loaded = load_gallery(ctx=other)
    assert loaded.source == "snapshot"
    assert loaded.templates == len(ctx.gallery)
    for template_id in [*enrolled, late]:
        assert other.gallery.scope_of(template_id) == "site:h1"

    # An erasure: the writer drops it, records it, and a new base leaves it out in time.
    with ctx.uow() as uow:
        uow.templates.delete([enrolled[0]])
        uow.commit()
    assert follow_journal(ctx=ctx, now=1_000.0).removed == 1
    assert ctx.journal.removed_since == 1_000.0
    follow_journal(ctx=ctx, now=1_000.0 + SNAPSHOT_PURGE_SECONDS)
    assert ctx.journal.removed_since is None  # a new base was written without it
    third = _worker(engine, tmp_path, sealer=ctx.sealer)
    assert load_gallery(ctx=third).source == "snapshot"
    assert enrolled[0] not in third.gallery
    assert len(third.gallery) == len(ctx.gallery)


def test_a_snapshot_ahead_of_the_database_is_not_used(engine: Engine, tmp_path: Path) -> None:
    ctx = _worker(engine, tmp_path)
    kit.populate(ctx, people=5)
    kit.enrol_like_a_server(ctx, 910)
    assert follow_journal(ctx=ctx).position > 0
    # The database goes back to before that journal existed (as a restored backup would).
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM template_changes")
    fresh = _worker(engine, tmp_path, sealer=ctx.sealer)
    assert load_gallery(ctx=fresh).source == "database"
