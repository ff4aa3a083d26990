"""The gallery file: sealed records only, authenticated as a whole, replaced atomically.

Layout (integers big-endian):

    MAGIC                                         16 bytes
    u32 n + header JSON                           format, model_version, dim, count, index_chunks
    count x (u16 n + template id, u16 n + scope, u32 n + sealed embedding)
                                                  AD: template id + model version
    index_chunks x (u32 n + sealed chunk)         optional serialized FAISS index, sealed too
    u32 n + sealed SHA-256 of all the above       no record can be dropped, replayed or reordered

Nothing unsealed but the ids and the header reaches the disk: the embeddings (and the FAISS graph,
which holds them) are biometric data.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from facepay.gallery.checks import check_batch, check_embeddings, check_scopes
from facepay.gallery.ports import Sealer
from facepay.shared.errors import Conflict, InvalidInput
from facepay.shared.files import fsync_folder
from facepay.vision.types import Embedding

MAGIC = b"FACEPAY-GALLERY\x00"
FORMAT = 2
"""2 added each template's scope; a file of format 1 is refused as outdated (and rebuilt)."""
CHUNK_BYTES = 16 << 20
_MANIFEST_ID = "\x00manifest"  # ids with a control character cannot clash with template ids
_MAX_HEADER = 1 << 16


@dataclass(frozen=True, slots=True)
class GalleryFile:
    """What a verified gallery file holds."""

    template_ids: list[str]
    embeddings: Embedding
    index_blob: NDArray[np.uint8] | None
    scopes: list[str]


def _index_chunk_id(i: int) -> str:
    return f"\x00index:{i}"


class _HashingWriter:
    def __init__(self, f: BinaryIO) -> None:
        self.f, self.digest = f, hashlib.sha256()

    def field(self, data: bytes, width: int) -> None:
        for part in (len(data).to_bytes(width, "big"), data):
            self.digest.update(part)
            self.f.write(part)


def write_gallery_file(
    path: Path,
    sealer: Sealer,
    *,
    model_version: str,
    template_ids: Sequence[str],
    embeddings: Embedding,
    scopes: Sequence[str] | None = None,
    index_blob: NDArray[np.uint8] | None = None,
) -> None:
    """Seal every embedding (and the optional index blob) into `path`, replacing it atomically;
    `scopes` gives each template's scope (unscoped when None)."""
    write_gallery_records(
        path,
        sealer,
        model_version=model_version,
        dim=int(embeddings.shape[1]),
        template_ids=template_ids,
        scopes=scopes,
        rows=[embeddings],
        index_blob=index_blob,
    )


def write_gallery_records(
    path: Path,
    sealer: Sealer,
    *,
    model_version: str,
    dim: int,
    template_ids: Sequence[str],
    scopes: Sequence[str] | None,
    rows: Iterable[Embedding],
    index_blob: NDArray[np.uint8] | None = None,
) -> None:
    """`write_gallery_file` with the embeddings given as consecutive blocks of rows, so that a
    large gallery is written without a second copy of its embeddings in memory."""
    scope_list = check_scopes(scopes, len(template_ids))
    chunks = 0 if index_blob is None else -(-index_blob.size // CHUNK_BYTES)
    header = {
        "format": FORMAT,
        "model_version": model_version,
        "dim": dim,
        "count": len(template_ids),
        "index_chunks": chunks,
        "index_bytes": 0 if index_blob is None else int(index_blob.size),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            out = _HashingWriter(f)
            out.digest.update(MAGIC)
            f.write(MAGIC)
            out.field(json.dumps(header).encode(), 4)
            records = zip(template_ids, scope_list, _each_row(rows, dim), strict=True)
            for template_id, scope, row in records:
                out.field(template_id.encode(), 2)
                out.field(scope.encode(), 2)
                out.field(
                    sealer.seal(
                        row.tobytes(), template_id=template_id, model_version=model_version
                    ),
                    4,
                )
            if index_blob is not None:
                view = np.ascontiguousarray(index_blob).data.cast("B")
                for i in range(chunks):
                    part = view[i * CHUNK_BYTES : (i + 1) * CHUNK_BYTES]
                    sealed = sealer.seal(
                        part, template_id=_index_chunk_id(i), model_version=model_version
                    )
                    out.field(sealed, 4)
            manifest = sealer.seal(
                out.digest.digest(), template_id=_MANIFEST_ID, model_version=model_version
            )
            f.write(len(manifest).to_bytes(4, "big") + manifest)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def _each_row(blocks: Iterable[Embedding], dim: int) -> Iterator[np.ndarray]:
    for block in blocks:
        rows = np.ascontiguousarray(block, dtype="<f4")
        if rows.ndim != 2 or rows.shape[1] != dim:
            raise InvalidInput(f"embeddings must have {dim} values each", code="bad_embedding")
        yield from rows


class _HashingReader:
    def __init__(self, f: BinaryIO, path: Path) -> None:
        self.f, self.path, self.digest = f, path, hashlib.sha256()

    def exact(self, n: int, *, hashed: bool = True) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise InvalidInput(f"gallery file {self.path} is truncated", code="gallery_corrupt")
        if hashed:
            self.digest.update(data)
        return data

    def field(self, width: int, *, limit: int = 1 << 30, hashed: bool = True) -> bytes:
        n = int.from_bytes(self.exact(width, hashed=hashed), "big")
        if n > limit:
            raise InvalidInput(f"gallery file {self.path} is corrupt", code="gallery_corrupt")
        return self.exact(n, hashed=hashed)


def read_gallery_file(path: Path, sealer: Sealer, *, model_version: str, dim: int) -> GalleryFile:
    """Open and verify every record of `path`; raise before returning anything unauthentic."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise InvalidInput(f"gallery file {path} does not exist", code="gallery_missing") from None
    with f:
        src = _HashingReader(f, path)
        if src.exact(len(MAGIC)) != MAGIC:
            raise InvalidInput(f"{path} is not a facepay gallery file", code="gallery_corrupt")
        header = _parse_header(src.field(4, limit=_MAX_HEADER), path)
        if header["model_version"] != model_version or header["dim"] != dim:
            raise Conflict(
                f"gallery file {path} holds {header['model_version']!r} embeddings "
                f"(dim {header['dim']}); this gallery is {model_version!r} (dim {dim}): "
                "templates of different face models must never be mixed — re-enrol instead",
                code="model_version_mismatch",
            )
        count, chunks, size = header["count"], header["index_chunks"], header["index_bytes"]
        # An unauthenticated header must not make us allocate more than the file could hold.
        if count * 4 * dim + size > path.stat().st_size:
            raise InvalidInput(f"gallery file {path} is corrupt", code="gallery_corrupt")
        ids: list[str] = []
        scopes: list[str] = []
        rows = np.empty((count, dim), dtype=np.float32)
        for i in range(count):
            template_id = _decode_id(src.field(2), path)
            scopes.append(_decode_id(src.field(2), path))
            plain = sealer.open(src.field(4), template_id=template_id, model_version=model_version)
            if len(plain) != 4 * dim:
                raise InvalidInput(f"gallery file {path} is corrupt", code="gallery_corrupt")
            rows[i] = np.frombuffer(plain, dtype="<f4")
            ids.append(template_id)
        blob = _read_index_blob(src, sealer, model_version, chunks, size) if chunks else None
        digest = src.digest.digest()
        manifest = sealer.open(
            src.field(4, hashed=False), template_id=_MANIFEST_ID, model_version=model_version
        )
        if manifest != digest or f.read(1):
            raise InvalidInput(
                f"gallery file {path} was altered (records dropped, reordered or appended)",
                code="template_tampered",
            )
    # Authentic, so written by us; re-checking costs little and guards against our own bugs.
    rows = check_embeddings(rows, dim=dim)
    check_batch(ids, rows, ())
    return GalleryFile(
        template_ids=ids, embeddings=rows, index_blob=blob, scopes=check_scopes(scopes, count)
    )


def _parse_header(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    ints = ("count", "index_chunks", "index_bytes", "dim")
    if isinstance(header, dict) and header.get("format") in range(1, FORMAT):
        raise InvalidInput(
            f"gallery file {path} is of an older format ({header['format']})",
            code="gallery_outdated",
        )
    if (
        not isinstance(header, dict)
        or header.get("format") != FORMAT
        or not isinstance(header.get("model_version"), str)
        or not all(isinstance(header.get(k), int) and header[k] >= 0 for k in ints)
    ):
        raise InvalidInput(f"gallery file {path} has an unreadable header", code="gallery_corrupt")
    return header


def _decode_id(raw: bytes, path: Path) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise InvalidInput(f"gallery file {path} is corrupt", code="gallery_corrupt") from None


def _read_index_blob(
    src: _HashingReader, sealer: Sealer, model_version: str, chunks: int, size: int
) -> NDArray[np.uint8]:
    if chunks != -(-size // CHUNK_BYTES):
        raise InvalidInput(f"gallery file {src.path} is corrupt", code="gallery_corrupt")
    blob = np.empty(size, dtype=np.uint8)
    for i in range(chunks):
        plain = sealer.open(
            src.field(4), template_id=_index_chunk_id(i), model_version=model_version
        )
        part = blob[i * CHUNK_BYTES : (i + 1) * CHUNK_BYTES]
        if len(plain) != part.size:
            raise InvalidInput(f"gallery file {src.path} is corrupt", code="gallery_corrupt")
        part[:] = np.frombuffer(plain, dtype=np.uint8)
    return blob
