"""Keep the in-process gallery and its sealed file in step with the database (the truth)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from facepay.gallery.persistence import write_gallery_file
from facepay.services.context import Services
from facepay.shared.errors import Conflict, InvalidInput

_log = structlog.get_logger("facepay.gallery")


@dataclass(frozen=True)
class GallerySync:
    """How the gallery was loaded: from its file, or rebuilt from the templates table."""

    source: str
    templates: int


def load_gallery(*, ctx: Services) -> GallerySync:
    """Load the sealed gallery file if it holds exactly the database's templates, else rebuild."""
    version = ctx.gallery.model_version
    with ctx.uow() as uow:
        wanted = uow.templates.scopes(version)
    with ctx.gallery_lock:
        if ctx.gallery_path is not None and ctx.gallery_path.exists():
            try:
                ctx.gallery.load(ctx.gallery_path, ctx.sealer)
            except (InvalidInput, Conflict):
                pass  # corrupt, tampered or another model: the database rebuilds it below
            else:
                if _matches(ctx, wanted):
                    return GallerySync("file", len(wanted))
        _rebuild(ctx)
        _save_locked(ctx)
    return GallerySync("database", len(ctx.gallery))


def _matches(ctx: Services, wanted: dict[str, str]) -> bool:
    gallery = ctx.gallery
    return len(gallery) == len(wanted) and all(gallery.scope_of(t) == s for t, s in wanted.items())


def _rebuild(ctx: Services) -> None:
    """Write the database's templates into a gallery file and load it (replaces everything)."""
    version, dim = ctx.gallery.model_version, ctx.gallery.dim
    ids: list[str] = []
    scopes: list[str] = []
    rows: list[np.ndarray] = []
    with ctx.uow() as uow:
        for record in uow.templates.iterate(version):
            plain = ctx.sealer.open(record.sealed, template_id=record.id, model_version=version)
            ids.append(record.id)
            scopes.append(record.hospital_id)
            rows.append(np.frombuffer(plain, dtype="<f4"))
    matrix = np.stack(rows) if rows else np.empty((0, dim), dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="facepay-gallery-") as folder:
        path = Path(folder) / "rebuild.gallery"
        write_gallery_file(
            path,
            ctx.sealer,
            model_version=version,
            template_ids=ids,
            embeddings=matrix,
            scopes=scopes,
        )
        ctx.gallery.load(path, ctx.sealer)


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
        ctx.gallery.save(ctx.gallery_path, ctx.sealer)
