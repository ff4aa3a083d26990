"""Keep the in-process gallery and its sealed file in step with the database (the truth)."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from facepay.gallery.persistence import write_gallery_file
from facepay.services.context import Services
from facepay.services.support import audit
from facepay.services.template_integrity import open_templates, require_template_key
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
        wanted = uow.templates.scopes(version)
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
                reason = "stale"  # it does not hold what the database holds
        elif not wanted:
            reason = ""  # a new installation: nothing to rebuild, nothing to say
        quarantined = _rebuild(ctx)
        _save_locked(ctx)
    if reason:
        _rebuilt(ctx, reason, len(ctx.gallery), quarantined)
    return GallerySync("database", len(ctx.gallery))


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
    """Write the sealed gallery file (no-op without a path). A file that cannot be written (a
    full disk) is logged, not raised: the change it records is committed in the database, the
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
