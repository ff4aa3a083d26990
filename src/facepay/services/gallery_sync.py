"""Keep the in-process gallery and its sealed file in step with the database (the truth).

Every worker process holds the gallery in memory. At start it loads the sealed file (or rebuilds
from the templates table), noting first how far the template journal went. Then it follows the
journal (`follow_journal`, a few times a second from the server's lifespan): each template added
elsewhere is read from its sealed row and opened, each one deleted or quarantined is dropped. So
an enrolment on one worker is identifiable on the others within the follow interval; an erasure
is effective everywhere before its call returns, because identification checks every candidate's
row inside its own transaction, however far this gallery lags.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from facepay.gallery.persistence import write_gallery_file
from facepay.gallery.snapshot import GalleryChange
from facepay.services.context import JournalCursor, Services
from facepay.services.repositories import TemplateChange
from facepay.services.support import audit
from facepay.services.template_integrity import (
    open_records,
    open_templates,
    require_template_key,
)
from facepay.shared.errors import Conflict, InvalidInput

_log = structlog.get_logger("facepay.gallery")


@dataclass(frozen=True)
class GallerySync:
    """How the gallery was loaded: from its file, or rebuilt from the templates table."""

    source: str
    templates: int


def load_gallery(*, ctx: Services) -> GallerySync:
    """Load the sealed gallery file if it holds exactly the database's usable templates, else
    rebuild it from the templates table - saying why, in the log and the platform's audit
    chain. A wrong template key is a `ConfigurationError`; a row that does not open is
    quarantined (facepay.services.template_integrity) and the rest is loaded."""
    version = ctx.gallery.model_version
    require_template_key(ctx=ctx, sealer=ctx.sealer, model_version=version)
    with ctx.uow() as uow:
        # Before reading the rows: whatever commits after this, the follower applies.
        start = uow.templates.last_change()
    if ctx.snapshot is not None and (loaded := _from_snapshot(ctx, start)) is not None:
        return loaded
    with ctx.uow() as uow:
        wanted = uow.templates.scopes(version)
    ctx.journal.position, ctx.journal.applied, ctx.journal.waiting = start, set(), {}
    with ctx.gallery_lock:
        reason = "missing"
        if ctx.gallery_path is not None and ctx.gallery_path.exists():
            try:
                ctx.gallery.load(ctx.gallery_path, ctx.sealer)
            except (InvalidInput, Conflict) as error:
                reason = error.code  # corrupt, truncated, tampered, outdated or another model
            else:
                if _matches(ctx, wanted):
                    return GallerySync("file", len(wanted))
                if _catch_up(ctx, wanted):
                    return GallerySync("file+database", len(ctx.gallery))
                reason = "stale"  # it does not hold what the database holds
        elif not wanted:
            reason = ""  # a new installation: nothing to rebuild, nothing to say
        quarantined = _rebuild(ctx)
        _save_locked(ctx)
        if ctx.snapshot is not None:
            try:
                ctx.snapshot.write_base(ctx.gallery, position=start)
            except OSError as error:
                _log.warning("gallery_snapshot_not_written", error=str(error))
    if reason:
        _rebuilt(ctx, reason, len(ctx.gallery), quarantined)
    return GallerySync("database", len(ctx.gallery))


def _from_snapshot(ctx: Services, last: int) -> GallerySync | None:
    """The gallery from the data folder's snapshot, then the journal since it; None (gallery
    untouched) without a usable one. A snapshot ahead of the database's journal belongs to
    another state of the database (a restored backup): not used."""
    assert ctx.snapshot is not None
    with ctx.gallery_lock:
        position = ctx.snapshot.load_into(ctx.gallery)
    refusal = ctx.snapshot.refusal
    if position is None or position > last:
        why = refusal.code if refusal is not None else "ahead_of_the_database"
        if why != "snapshot_missing":
            _log.warning("gallery_snapshot_refused", reason=why, path=str(ctx.snapshot.path))
        return None
    ctx.journal.position, ctx.journal.applied, ctx.journal.waiting = position, set(), {}
    while follow_journal(ctx=ctx).read >= FOLLOW_BATCH:
        pass  # catch up with everything committed since the snapshot
    return GallerySync("snapshot", len(ctx.gallery))


def _catch_up(ctx: Services, wanted: dict[str, str]) -> bool:
    """Bring a loaded but outdated gallery to the database's templates by the difference (rows
    added since the file was saved are opened and added, changed ones replaced), when that is at
    most a tenth of it and the file holds nothing the database lost; False (nothing changed)
    when only a rebuild will do. The caller holds the gallery lock."""
    gallery = ctx.gallery
    held = {t: gallery.scope_of(t) for t in wanted}
    present = sum(scope is not None for scope in held.values())
    if present != len(gallery):
        return False  # it holds templates the database no longer has
    missing = [t for t, scope in wanted.items() if held[t] != scope]
    if len(missing) > max(100, len(wanted) // 10):
        return False
    _add_rows(ctx, missing)
    return True


def _add_rows(ctx: Services, template_ids: list[str]) -> int:
    """Open the rows of `template_ids` and add the usable ones not held yet; returns how many."""
    return _put(ctx, _open_rows(ctx, template_ids))


def _open_rows(ctx: Services, template_ids: list[str]) -> dict[str, tuple[str, np.ndarray]]:
    """The usable rows of `template_ids`, opened: id -> (scope, embedding)."""
    if not template_ids:
        return {}
    with ctx.uow() as uow:
        rows = uow.templates.get_many(template_ids)
    records = [
        r for r in rows.values() if r.usable and r.model_version == ctx.gallery.model_version
    ]
    opened = open_records(ctx=ctx, sealer=ctx.sealer, records=records)
    return {
        t: (scope, row)
        for t, scope, row in zip(opened.ids, opened.scopes, opened.rows, strict=True)
    }


def _put(ctx: Services, opened: dict[str, tuple[str, np.ndarray]]) -> int:
    """Add opened rows the gallery does not hold in that scope yet; returns how many."""
    added = 0
    for template_id, (scope, row) in opened.items():
        if ctx.gallery.scope_of(template_id) == scope:
            continue
        if template_id in ctx.gallery:
            ctx.gallery.remove(template_id)
        ctx.gallery.add(template_id, row, scope=scope)
        added += 1
    return added


FOLLOW_BATCH = 1_000
GAP_SECONDS = 30.0
"""How long a hole in the journal's numbers is waited for: a change numbered below one already
seen may still commit (PostgreSQL numbers a row when it is inserted, not when it commits); one
that has not after this long was rolled back."""


@dataclass(frozen=True)
class Followed:
    """What one round of following the journal did."""

    added: int
    removed: int
    position: int
    read: int = 0
    """Journal entries read this round (FOLLOW_BATCH: more are waiting)."""


def follow_journal(*, ctx: Services, now: float | None = None) -> Followed:
    """Apply the template journal's changes since the last round to this process's gallery:
    for each template, its last change decides (an added one is read from its row, which must
    still be there and usable; a removed one is dropped). The process that writes the data
    folder's snapshot records the changes in its log too."""
    cursor = ctx.journal
    moment = time.monotonic() if now is None else now
    with ctx.uow() as uow:
        changes = uow.templates.changes_after(cursor.position, limit=FOLLOW_BATCH)
    fresh = [c for c in changes if c.seq not in cursor.applied]
    last: dict[str, TemplateChange] = {}
    for change in fresh:
        if change.model_version == ctx.gallery.model_version:
            last[change.template_id] = change
    recording = ctx.snapshot is not None and _snapshot_writer(ctx)
    adds = [
        t
        for t, c in last.items()
        if c.op == "add" and (recording or ctx.gallery.scope_of(t) != c.scope)
    ]
    opened = _open_rows(ctx, adds)
    # An added template whose row is gone or quarantined since is as good as removed.
    removals = [t for t, c in last.items() if c.op == "remove"] + [
        t for t in adds if t not in opened
    ]
    removed = 0
    with ctx.gallery_lock:
        for template_id in removals:
            if template_id in ctx.gallery:
                ctx.gallery.remove(template_id)
                removed += 1
        added = _put(ctx, opened)
        cursor.applied.update(c.seq for c in fresh)
        _advance(cursor, changes, moment)
        if recording and (fresh or cursor.removed_since is not None):
            _record(ctx, opened, removals, moment)
    return Followed(added, removed, cursor.position, len(changes))


SNAPSHOT_PURGE_SECONDS = 600.0
"""Longest a removed template's sealed vector stays in the snapshot's base: a new base is
written this long after the first removal the log recorded (an erasure leaves no copy behind
for more than ten minutes)."""


def _record(
    ctx: Services, opened: dict[str, tuple[str, np.ndarray]], removals: list[str], moment: float
) -> None:
    """Append this round's changes to the snapshot's log; write a new base instead when the
    log is long, lags another writer's, or holds a removal older than SNAPSHOT_PURGE_SECONDS.
    A snapshot that cannot be written (a full disk) is logged: the journal is the truth, and
    a restart replays it from whatever position the snapshot reached."""
    snapshot, cursor = ctx.snapshot, ctx.journal
    assert snapshot is not None
    changes = [GalleryChange("remove", t) for t in removals] + [
        GalleryChange("add", t, scope, row) for t, (scope, row) in opened.items()
    ]
    try:
        if changes:
            try:
                snapshot.append(changes, position=cursor.position)
            except (InvalidInput, Conflict):
                _write_base(ctx, moment)  # missing, damaged, or ahead of us: start it again
                return
            if removals and cursor.removed_since is None:
                cursor.removed_since = moment
        purge = (
            cursor.removed_since is not None
            and moment - cursor.removed_since >= SNAPSHOT_PURGE_SECONDS
        )
        if purge or snapshot.should_compact():
            _write_base(ctx, moment)
    except OSError as error:
        _log.warning("gallery_snapshot_not_written", error=str(error))


def _write_base(ctx: Services, moment: float) -> None:
    """A new base of the whole gallery at the cursor's position (the caller holds the lock)."""
    assert ctx.snapshot is not None
    ctx.snapshot.write_base(ctx.gallery, position=ctx.journal.position)
    ctx.journal.removed_since = None
    _log.info("gallery_snapshot_base", templates=len(ctx.gallery), position=ctx.journal.position)


def _snapshot_writer(ctx: Services) -> bool:
    """Whether this process writes the data folder's snapshot: the first to take a lock file
    next to it, held while the process lives (several workers share one data folder)."""
    cursor = ctx.journal
    if cursor.writer_fd is not None:
        return True
    assert ctx.snapshot is not None
    fd = os.open(ctx.snapshot.path.with_name(".gallery-writer.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    cursor.writer_fd = fd
    return True


def _advance(cursor: JournalCursor, changes: list[TemplateChange], moment: float) -> None:
    """Move the position over every change applied, and over holes waited for long enough."""
    highest = max([cursor.position, *cursor.applied])
    seen = {c.seq for c in changes}
    for seq in range(cursor.position + 1, highest):
        if seq not in cursor.applied and seq not in seen:
            cursor.waiting.setdefault(seq, moment)
    while True:
        nxt = cursor.position + 1
        if nxt in cursor.applied:
            cursor.applied.discard(nxt)
        elif nxt in cursor.waiting and moment - cursor.waiting[nxt] >= GAP_SECONDS:
            del cursor.waiting[nxt]
        else:
            break
        cursor.position = nxt
    for seq in [s for s in cursor.waiting if s <= cursor.position]:
        del cursor.waiting[seq]


def _rebuilt(ctx: Services, reason: str, templates: int, quarantined: list[str]) -> None:
    _log.warning(
        "gallery_rebuilt",
        reason=reason,
        path=str(ctx.gallery_path),
        templates=templates,
        quarantined=len(quarantined),
    )
    with ctx.uow() as uow:
        details = {"reason": reason, "loaded": templates, "quarantined": len(quarantined)}
        audit(
            ctx, uow, actor="system:gallery", action="gallery.rebuild", subject="gallery",
            details=details,
        )  # fmt: skip
        uow.commit()


def _matches(ctx: Services, wanted: dict[str, str]) -> bool:
    gallery = ctx.gallery
    return len(gallery) == len(wanted) and all(gallery.scope_of(t) == s for t, s in wanted.items())


def _rebuild(ctx: Services) -> list[str]:
    """Write the database's usable templates into a gallery file and load it (replacing
    everything); returns the ids quarantined on the way."""
    version, dim = ctx.gallery.model_version, ctx.gallery.dim
    opened = open_templates(ctx=ctx, sealer=ctx.sealer, model_version=version)
    matrix = np.stack(opened.rows) if opened.rows else np.empty((0, dim), dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="facepay-gallery-") as folder:
        path = Path(folder) / "rebuild.gallery"
        write_gallery_file(
            path,
            ctx.sealer,
            model_version=version,
            template_ids=opened.ids,
            embeddings=matrix,
            scopes=opened.scopes,
        )
        ctx.gallery.load(path, ctx.sealer)
    return opened.quarantined


def save_gallery(*, ctx: Services) -> None:
    """Write the sealed gallery file (no-op without a path: with a snapshot, the journal
    follower records each change in its log instead). A file that cannot be written (a full
    disk) is logged, not raised: the change it records is committed in the database, the
    gallery in memory has it, and the next save or start writes the file again."""
    with ctx.gallery_lock:
        try:
            _save_locked(ctx)
        except OSError as error:
            _log.warning("gallery_not_saved", path=str(ctx.gallery_path), error=str(error))


def _save_locked(ctx: Services) -> None:
    if ctx.gallery_path is not None:
        with gallery_file_lock(ctx.gallery_path):
            ctx.gallery.save(ctx.gallery_path, ctx.sealer)


@contextmanager
def gallery_file_lock(path: Path) -> Iterator[None]:
    """Hold the lock that every process writing the gallery file takes (a server saving it,
    `facepay admin rotate-key` re-sealing it), so that neither replaces the other's newer file
    with an older one. An flock on `.<name>.lock` next to it: released if the process dies."""
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
