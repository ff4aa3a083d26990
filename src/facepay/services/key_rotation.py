"""Rotate the template key while servers run: `facepay admin rotate-key`.

Every step can be interrupted (even by SIGKILL) and the command run again: each one looks at
what is already done - the key files and the installation facts - and does only the rest.

1. A new key is written to `template.key.next` (kept if it is already there).
2. The switch: the current key is copied to `template.key.previous`, then `.next` is renamed
   onto `template.key` (one atomic rename). From here on every keyring - a running server's
   too, within a second - seals under the new key and opens under either.
3. The database records the new key (`template_key_id`) and the one being retired
   (`template_key_retiring`); a server started now must hold both.
4. After a grace period (servers re-read their key files), every template row is re-sealed
   under the new key in batches, one transaction each, each row replaced only if it still
   holds the bytes that were read (a patient re-enrolled meanwhile keeps the new row). A row
   that opens under the new key already is left alone, so a second run skips what the first
   did. Passes repeat, a grace period apart, until one finds nothing left to re-seal: a server
   that sealed under the old key just before it noticed the switch is caught by the next pass.
5. The gallery file is re-sealed under the new key, holding the lock the servers' saves take.
6. The database forgets the retiring key and records it as retired (with an entry in the
   platform's audit chain), then `template.key.previous` is deleted. A run after that finds
   the rotation complete and only removes a leftover `.previous`.

The old key is deleted from the data folder only: copies of it (key backups) still open the
templates of database backups made before the rotation - keep them as long as those backups,
or destroy both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from facepay.adapters.crypto import (
    TemplateKeyring,
    TemplateSealer,
    new_key,
    next_key_file,
    previous_key_file,
    read_key_file,
    write_key_file,
)
from facepay.gallery.persistence import MAGIC, read_gallery_file, write_gallery_file
from facepay.services.context import Storage
from facepay.services.gallery_sync import gallery_file_lock
from facepay.services.support import audit
from facepay.services.template_integrity import KEY_ID, RETIRING_KEY_ID
from facepay.shared.errors import ConfigurationError, Conflict, InvalidInput
from facepay.shared.files import fsync_folder

RETIRED_KEY_ID = "template_key_retired"
"""The installation fact naming the key the last completed rotation retired."""
ACTOR = "cli:rotate-key"
MAX_PASSES = 6
_log = structlog.get_logger("facepay.keys")


@dataclass(frozen=True)
class SealedRow:
    """One template row as the rotation sees it."""

    id: str
    model_version: str
    sealed: bytes
    quarantined: bool


class SealedRows(Protocol):
    """The template rows, in id order, re-sealed in batches (`adapters.db.sealed_rows`)."""

    def after(self, template_id: str, *, limit: int) -> list[SealedRow]:
        """Up to `limit` rows whose id sorts after `template_id` ('' for the first)."""
        ...

    def replace(self, changes: Sequence[tuple[str, bytes, bytes]]) -> int:
        """In one transaction, set each (id, old, new) row's sealed bytes to `new` where they
        are still `old`; returns how many rows changed."""
        ...


@dataclass(frozen=True)
class Progress:
    """Reported after every batch."""

    rotation_pass: int
    scanned: int
    resealed: int


@dataclass
class RotationReport:
    """What `rotate_template_key` did."""

    old_key_id: str
    new_key_id: str
    resealed: int = 0
    """Rows re-sealed by this run."""
    already_new: int = 0
    """Rows found under the new key already by the first pass (an earlier, interrupted run)."""
    unreadable: list[str] = field(default_factory=list)
    """Rows that open under neither key: damaged; `facepay admin check` quarantines them."""
    passes: int = 0
    gallery: str = "absent"
    """'resealed', 'absent', or 'unreadable' (the server rebuilds it at its next start)."""
    resumed: bool = False
    completed_earlier: bool = False
    """The rotation had finished before; this run only tidied up."""
    seconds: float = 0.0


def rotate_template_key(
    *,
    ctx: Storage,
    key_file: Path,
    rows: SealedRows,
    gallery_path: Path | None,
    batch_size: int = 500,
    pause: float = 0.0,
    grace: float = 5.0,
    progress: Callable[[Progress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RotationReport:
    """Re-seal every template and the gallery file under a new key and retire the old one
    (resumable: run it again after any interruption)."""
    started = time.monotonic()
    old, new, report = _switch(ctx, key_file)
    if report.completed_earlier:
        report.seconds = time.monotonic() - started
        return report
    sleep(grace)  # running servers notice the switch within a second (RELOAD_SECONDS)
    for number in range(1, MAX_PASSES + 1):
        changed, already, unreadable = _pass(
            rows, old, new, number, batch_size=batch_size, pause=pause, progress=progress
        )
        report.passes, report.resealed = number, report.resealed + changed
        if number == 1:
            report.already_new, report.unreadable = already, unreadable
        if changed == 0 and number > 1:
            break
        sleep(grace)
    else:
        raise Conflict(
            f"templates are still being sealed under the old key after {MAX_PASSES} passes: "
            "a server has not picked up the new key; restart it, then run rotate-key again",
            code="rotation_unfinished",
        )
    report.gallery = _reseal_gallery(gallery_path, key_file, new)
    _retire(ctx, key_file, report)
    report.seconds = time.monotonic() - started
    return report


def _switch(ctx: Storage, key_file: Path) -> tuple[TemplateSealer, TemplateSealer, RotationReport]:
    """Steps 1-3, each skipped when done: the (old, new) sealers and the report so far."""
    previous, following = previous_key_file(key_file), next_key_file(key_file)
    with ctx.uow() as uow:
        recorded = uow.tenants.installation_value(KEY_ID)
        retiring = uow.tenants.installation_value(RETIRING_KEY_ID) or None
        retired = uow.tenants.installation_value(RETIRED_KEY_ID) or None
    current = _sealer(key_file, required=True)
    assert current is not None
    before = _sealer(previous)
    if recorded is None:
        raise ConfigurationError(
            "the database records no template key yet: run `facepay admin check` (or start "
            "the server) once, then rotate",
            code="wrong_template_key",
        )
    if retiring is not None:  # step 3 was done: resume
        if current.key_id != recorded or before is None or before.key_id != retiring:
            raise _lost(key_file, recorded, retiring, current, before)
        return before, current, RotationReport(retiring, recorded, resumed=True)
    if current.key_id == recorded and before is not None and before.key_id == retired:
        _remove(previous)  # step 6 was done but for the file
        return before, current, RotationReport(retired, recorded, completed_earlier=True)
    resumed = following.exists() or before is not None
    if current.key_id == recorded:
        if before is not None and before.key_id != recorded:
            raise ConfigurationError(
                f"{previous} holds a key (id {before.key_id}) that is not this database's "
                f"(id {recorded}): move it away, then rotate",
                code="wrong_template_key",
            )
        upcoming = _sealer(following)
        if upcoming is None or upcoming.key_id == recorded:
            write_key_file(following, new_key())  # step 1
        write_key_file(previous, read_key_file(key_file))  # step 2: keep the old key...
        following.rename(key_file)  # ...then switch in one rename
        fsync_folder(key_file.parent)
        current, before = _sealer(key_file, required=True), _sealer(previous)
        assert current is not None
    if before is None or before.key_id != recorded or current.key_id == recorded:
        raise _lost(key_file, recorded, None, current, before)
    with ctx.uow() as uow:  # step 3
        now = ctx.clock.now()
        uow.tenants.set_installation_value(KEY_ID, current.key_id, at=now)
        uow.tenants.set_installation_value(RETIRING_KEY_ID, before.key_id, at=now)
        audit(
            ctx, uow, actor=ACTOR, action="template_key.rotation_start", subject=current.key_id,
            details={"from": before.key_id, "to": current.key_id},
        )  # fmt: skip
        uow.commit()
    _log.info("template_key_rotation_started", old=before.key_id, new=current.key_id)
    return before, current, RotationReport(before.key_id, current.key_id, resumed=resumed)


def _sealer(path: Path, *, required: bool = False) -> TemplateSealer | None:
    try:
        return TemplateSealer(read_key_file(path))
    except FileNotFoundError:
        if required:
            raise ConfigurationError(
                f"no template key at {path}: restore it (mode 0600) from its backup",
                code="missing_template_key",
            ) from None
        return None


def _lost(
    key_file: Path,
    recorded: str,
    retiring: str | None,
    current: TemplateSealer,
    before: TemplateSealer | None,
) -> ConfigurationError:
    held = f"{key_file} is key {current.key_id}, {key_file.name}.previous " + (
        f"is key {before.key_id}" if before else "is missing"
    )
    wanted = f"key {recorded}" + (f" and the retiring key {retiring}" if retiring else "")
    return ConfigurationError(
        f"the key files do not match the database, which expects {wanted}: {held}; restore "
        "the missing key file (mode 0600), then run rotate-key again",
        code="wrong_template_key",
    )


def _pass(
    rows: SealedRows,
    old: TemplateSealer,
    new: TemplateSealer,
    number: int,
    *,
    batch_size: int,
    pause: float,
    progress: Callable[[Progress], None] | None,
) -> tuple[int, int, list[str]]:
    """One walk over every row: (re-sealed, already under the new key, unreadable ids)."""
    cursor, scanned, changed, already = "", 0, 0, 0
    unreadable: list[str] = []
    while batch := rows.after(cursor, limit=batch_size):
        changes: list[tuple[str, bytes, bytes]] = []
        for row in batch:
            plain = _open(new, row)
            if plain is not None:
                already += 1
                continue
            plain = _open(old, row)
            if plain is None:
                if not row.quarantined:
                    unreadable.append(row.id)
                continue
            sealed = new.seal(plain, template_id=row.id, model_version=row.model_version)
            changes.append((row.id, row.sealed, sealed))
        changed += rows.replace(changes) if changes else 0
        scanned += len(batch)
        cursor = batch[-1].id
        if progress is not None:
            progress(Progress(number, scanned, changed))
        if pause:
            time.sleep(pause)
    return changed, already, unreadable


def _open(sealer: TemplateSealer, row: SealedRow) -> bytes | None:
    try:
        return sealer.open(row.sealed, template_id=row.id, model_version=row.model_version)
    except InvalidInput:
        return None


def _reseal_gallery(path: Path | None, key_file: Path, new: TemplateSealer) -> str:
    """Step 5: rewrite the gallery file under the new key (holding the servers' save lock)."""
    if path is None or not path.exists():
        return "absent"
    with gallery_file_lock(path):
        try:
            version, dim = _gallery_header(path)
            held = read_gallery_file(
                path, TemplateKeyring(key_file, create=False), model_version=version, dim=dim
            )
        except (InvalidInput, Conflict) as error:
            _log.warning("gallery_not_resealed", path=str(path), reason=error.code)
            return "unreadable"
        write_gallery_file(
            path,
            new,
            model_version=version,
            template_ids=held.template_ids,
            embeddings=held.embeddings,
            scopes=held.scopes,
            index_blob=held.index_blob,
        )
    return "resealed"


def _gallery_header(path: Path) -> tuple[str, int]:
    """The model version and dimension a gallery file declares (checked again when read)."""
    with path.open("rb") as f:
        magic, size = f.read(len(MAGIC)), int.from_bytes(f.read(4), "big")
        if magic != MAGIC or size > 1 << 16:
            raise InvalidInput(f"{path} is not a gallery file", code="gallery_corrupt")
        try:
            header = json.loads(f.read(size))
            return str(header["model_version"]), int(header["dim"])
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(f"{path} has an unreadable header", code="gallery_corrupt") from None


def _retire(ctx: Storage, key_file: Path, report: RotationReport) -> None:
    """Step 6: the database forgets the old key, then its file goes."""
    with ctx.uow() as uow:
        now = ctx.clock.now()
        uow.tenants.set_installation_value(RETIRING_KEY_ID, "", at=now)
        uow.tenants.set_installation_value(RETIRED_KEY_ID, report.old_key_id, at=now)
        audit(
            ctx, uow, actor=ACTOR, action="template_key.rotate", subject=report.new_key_id,
            details={"from": report.old_key_id, "to": report.new_key_id,
                     "resealed": report.resealed, "unreadable": len(report.unreadable),
                     "gallery": report.gallery},
        )  # fmt: skip
        uow.commit()
    _remove(previous_key_file(key_file))
    _log.info("template_key_rotated", old=report.old_key_id, new=report.new_key_id)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    fsync_folder(path.parent)
