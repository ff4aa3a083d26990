"""`GallerySnapshot`: a sealed base file plus an append-only sealed log of changes since it.

A worker that restarts loads the base (any gallery's own sealed file, FAISS index included, so
no index is rebuilt) and replays the log, instead of opening every template from the database.
Recording a change costs O(change): one record appended and fsynced, never the whole file.

Files, for a snapshot at `path`:

    path            the base: `gallery.save(path, sealer)` of the gallery at journal position P,
                    its records sealed with the model version *and* the snapshot id and P as
                    associated data (a `_BoundSealer`), so a base never pairs with another log
    path.log        the log (integers big-endian):
                      MAGIC; u32 n + header JSON (model_version, dim, snapshot_id,
                      base_position, base_count); u32 n + sealed SHA-256 of magic and header
                      then records, each u32 n + body, u32 n + sealed SHA-256 of the body:
                        body = u64 seq, u64 position, 32-byte digest of the previous body (the
                        header's for the first), u32 count, count x (u8 op, u16 n + template
                        id, u16 n + scope, u32 n + embedding sealed with the template id and
                        model version as associated data, empty for a removal)
    .path.lock      the flock every writer takes (the same file as the gallery file's lock)

The chain of digests refuses a record altered, dropped or moved in the middle (`InvalidInput`).
A record cut short at the end of the log is what a crash during `append` leaves: it is ignored
on load and cut off before the next append. Whole records dropped from the end are
indistinguishable from changes never recorded; that is safe, because `load_into` returns the
position the snapshot reflects and the journal follower replays the journal from there.

`write_base` writes both files to temporary names and renames the base, then the log; a crash
between the two renames leaves a base that does not open with the old log's snapshot id, so the
snapshot is refused as a whole (and the gallery rebuilt), never half applied.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from facepay.gallery.checks import check_embedding, check_scopes, check_template_id
from facepay.gallery.ports import UNSCOPED, Gallery, Sealer
from facepay.shared.errors import Conflict, InvalidInput
from facepay.shared.files import fsync_folder

MAGIC = b"FACEPAY-GLOG\x00\x00\x00\x01"
_HEADER_ID = "\x00log-header"
_RECORD = struct.Struct(">QQ32sI")
_OPS = {"add": 1, "remove": 2}
_NAMES: dict[int, Literal["add", "remove"]] = {1: "add", 2: "remove"}
_MAX_FIELD = 1 << 30


@dataclass(frozen=True)
class GalleryChange:
    """One change to record: an enrolment ("add", with its unit embedding) or a removal."""

    op: Literal["add", "remove"]
    template_id: str
    scope: str = UNSCOPED
    embedding: np.ndarray | None = None


@dataclass
class _LogState:
    """Where the log ends and what its last record was (to chain and check the next)."""

    snapshot_id: str
    base_position: int
    base_count: int
    end: int
    digest: bytes
    seq: int = 0
    position: int = 0
    changes: int = 0
    inode: int = 0
    records: list[tuple[int, list[GalleryChange]]] = field(default_factory=list)


class _BoundSealer:
    """The sealer with the snapshot id and position added to every record's associated data."""

    def __init__(self, sealer: Sealer, snapshot_id: str, position: int) -> None:
        self._sealer, self._suffix = sealer, f"\x00snapshot:{snapshot_id}@{position}"

    @property
    def key_id(self) -> str:
        return self._sealer.key_id

    def seal(
        self, data: bytes | bytearray | memoryview, *, template_id: str, model_version: str
    ) -> bytes:
        return self._sealer.seal(
            data, template_id=template_id, model_version=model_version + self._suffix
        )

    def open(
        self, sealed: bytes | bytearray | memoryview, *, template_id: str, model_version: str
    ) -> bytes:
        return self._sealer.open(
            sealed, template_id=template_id, model_version=model_version + self._suffix
        )


class GallerySnapshot:
    """A gallery's sealed base and change log at `path` (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        sealer: Sealer,
        *,
        model_version: str,
        dim: int,
        compact_fraction: float = 0.1,
        compact_records: int = 10_000,
    ) -> None:
        self.path, self.log_path = path, path.with_name(f"{path.name}.log")
        self._sealer, self._model_version, self._dim = sealer, model_version, dim
        self._compact_fraction, self._compact_records = compact_fraction, compact_records
        self._state: _LogState | None = None
        self.refusal: InvalidInput | Conflict | None = None
        """Why the last `load_into` found no usable snapshot (None when it loaded one)."""

    def load_into(self, gallery: Gallery) -> int | None:
        """Replace the gallery's contents with base + changes and return the journal position
        they reflect; None if there is no usable snapshot (missing, damaged, tampered, another
        key or model: `refusal` says which), the gallery then untouched."""
        self.refusal = None
        try:
            with self._locked(exclusive=False):
                state = self._scan(open_embeddings=True)
                bound = _BoundSealer(self._sealer, state.snapshot_id, state.base_position)
                gallery.load(self.path, bound)  # verifies the whole base before replacing
        except (InvalidInput, Conflict) as refused:
            self.refusal = refused
            return None
        for _, changes in state.records:
            _apply(gallery, changes)
        state.records = []
        self._state = state
        return state.position

    def write_base(self, gallery: Gallery, *, position: int) -> None:
        """Write the gallery as the new base at `position` with an empty log (atomic, fsynced);
        the gallery must not change meanwhile (the journal follower applies no change)."""
        position = _check_position(position)
        snapshot_id = secrets.token_hex(8)
        base_tmp = self.path.with_name(f".{self.path.name}.new")
        log_tmp = self.path.with_name(f".{self.log_path.name}.new")
        with self._locked(exclusive=True):
            try:
                gallery.save(base_tmp, _BoundSealer(self._sealer, snapshot_id, position))
                count = len(gallery)
                state = self._write_header(log_tmp, snapshot_id, position, count)
                os.replace(base_tmp, self.path)
                os.replace(log_tmp, self.log_path)
            finally:
                base_tmp.unlink(missing_ok=True)
                log_tmp.unlink(missing_ok=True)
            fsync_folder(self.path.parent)
            state.inode = self.log_path.stat().st_ino
            self._state = state

    def append(self, changes: Sequence[GalleryChange], *, position: int) -> None:
        """Record changes made up to journal `position` as one sealed record, fsynced; costs
        O(len(changes)). Refuses a position before the last one recorded (`Conflict`)."""
        position = _check_position(position)
        checked = [self._check(change) for change in changes]
        with self._locked(exclusive=True):
            state = self._current()
            if position < state.position:
                raise Conflict(
                    f"gallery snapshot is at position {state.position}, not before {position}",
                    code="snapshot_position",
                )
            body = self._body(state, position, checked)
            tag = self._seal_digest(hashlib.sha256(body).digest(), f"\x00log:{state.seq + 1}")
            record = _field(body, 4) + _field(tag, 4)
            fd = os.open(self.log_path, os.O_WRONLY)
            try:
                os.lseek(fd, state.end, os.SEEK_SET)
                os.ftruncate(fd, state.end)  # a record cut short by a crash goes first
                _write_all(fd, record)
                os.fsync(fd)
            finally:
                os.close(fd)
            state.end += len(record)
            state.digest = hashlib.sha256(body).digest()
            state.seq, state.position = state.seq + 1, position
            state.changes += len(checked)

    def should_compact(self) -> bool:
        """Whether the log has grown enough (changes past a fraction of the base, or many
        records) that a new base is worth writing."""
        with self._locked(exclusive=False):
            state = self._current()
        return (
            state.changes > self._compact_fraction * state.base_count
            or state.seq > self._compact_records
        )

    # Reading -----------------------------------------------------------------------------------

    def _current(self) -> _LogState:
        """The log's state, read again if another process changed the log (lock held)."""
        try:
            stat = self.log_path.stat()
        except FileNotFoundError:
            raise InvalidInput(
                f"gallery snapshot {self.path} has no log: write a base first",
                code="snapshot_missing",
            ) from None
        state = self._state
        if state is None or state.inode != stat.st_ino or state.end != stat.st_size:
            state = self._state = self._scan(open_embeddings=False)
        return state

    def _scan(self, *, open_embeddings: bool) -> _LogState:
        """Verify the whole log: header, every record's seal and the chain (lock held)."""
        try:
            f = self.log_path.open("rb")
        except FileNotFoundError:
            raise InvalidInput(
                f"gallery snapshot {self.path} does not exist", code="snapshot_missing"
            ) from None
        with f:
            inode, size = os.fstat(f.fileno()).st_ino, os.fstat(f.fileno()).st_size
            state = self._read_header(f)
            state.inode, state.position = inode, state.base_position
            while True:
                raw = _read_record(f, size)
                if raw is None:  # the end, or a record cut short by a crash: ignored
                    break
                body, tag = raw
                digest = hashlib.sha256(body).digest()
                opened = self._open_digest(tag, f"\x00log:{state.seq + 1}")
                seq, position, previous, count = _RECORD.unpack_from(body)
                if opened != digest or previous != state.digest or seq != state.seq + 1:
                    raise self._tampered("a record was altered, dropped or moved")
                if position < state.position:
                    raise self._tampered("a record goes back in position")
                changes = self._changes(body, count, open_embeddings=open_embeddings)
                if open_embeddings:
                    state.records.append((position, changes))
                state.seq, state.position, state.digest = seq, position, digest
                state.changes += count
                state.end = f.tell()
        return state

    def _read_header(self, f: BinaryIO) -> _LogState:
        if f.read(len(MAGIC)) != MAGIC:
            raise InvalidInput(f"{self.log_path} is not a gallery log", code="gallery_corrupt")
        head = _read_field(f, 4, 1 << 16)
        tag = _read_field(f, 4, 1 << 16)
        if head is None or tag is None:
            raise InvalidInput(f"gallery log {self.log_path} is truncated", code="gallery_corrupt")
        try:
            header = json.loads(head)
        except (UnicodeDecodeError, json.JSONDecodeError):
            header = None
        fields = ("model_version", "dim", "snapshot_id", "base_position", "base_count")
        if not isinstance(header, dict) or not all(k in header for k in fields):
            raise InvalidInput(f"gallery log {self.log_path} is corrupt", code="gallery_corrupt")
        if header["model_version"] != self._model_version or header["dim"] != self._dim:
            raise Conflict(
                f"gallery snapshot {self.path} holds {header['model_version']!r} embeddings "
                f"(dim {header['dim']}); this gallery is {self._model_version!r} (dim "
                f"{self._dim}): templates of different face models must never be mixed",
                code="model_version_mismatch",
            )
        digest = hashlib.sha256(MAGIC + head).digest()
        if self._open_digest(tag, _HEADER_ID) != digest:
            raise self._tampered("the log header was altered")
        return _LogState(
            snapshot_id=str(header["snapshot_id"]),
            base_position=int(header["base_position"]),
            base_count=int(header["base_count"]),
            end=f.tell(),
            digest=digest,
        )

    def _changes(self, body: bytes, count: int, *, open_embeddings: bool) -> list[GalleryChange]:
        out: list[GalleryChange] = []
        at = _RECORD.size
        try:
            for _ in range(count):
                op = _NAMES[body[at]]
                template_id, at = _take(body, at + 1, 2)
                scope, at = _take(body, at, 2)
                sealed, at = _take(body, at, 4)
                tid = template_id.decode()
                embedding = None
                if op == "add" and open_embeddings:
                    plain = self._sealer.open(
                        sealed, template_id=tid, model_version=self._model_version
                    )
                    embedding = np.frombuffer(plain, dtype="<f4").astype(np.float32)
                out.append(GalleryChange(op, tid, scope.decode(), embedding))
        except (KeyError, IndexError, UnicodeDecodeError):
            raise self._tampered("a record does not parse") from None
        if at != len(body):
            raise self._tampered("a record does not parse")
        return out

    # Writing -----------------------------------------------------------------------------------

    def _write_header(self, tmp: Path, snapshot_id: str, position: int, count: int) -> _LogState:
        header = json.dumps(
            {
                "format": 1,
                "model_version": self._model_version,
                "dim": self._dim,
                "snapshot_id": snapshot_id,
                "base_position": position,
                "base_count": count,
            }
        ).encode()
        digest = hashlib.sha256(MAGIC + header).digest()
        data = MAGIC + _field(header, 4) + _field(self._seal_digest(digest, _HEADER_ID), 4)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return _LogState(
            snapshot_id=snapshot_id,
            base_position=position,
            base_count=count,
            end=len(data),
            digest=digest,
            position=position,
        )

    def _body(self, state: _LogState, position: int, changes: list[GalleryChange]) -> bytes:
        parts = [_RECORD.pack(state.seq + 1, position, state.digest, len(changes))]
        for change in changes:
            sealed = b""
            if change.embedding is not None:
                sealed = self._sealer.seal(
                    change.embedding.astype("<f4").tobytes(),
                    template_id=change.template_id,
                    model_version=self._model_version,
                )
            parts.append(bytes([_OPS[change.op]]))
            parts.append(_field(change.template_id.encode(), 2))
            parts.append(_field(change.scope.encode(), 2))
            parts.append(_field(sealed, 4))
        return b"".join(parts)

    def _check(self, change: GalleryChange) -> GalleryChange:
        if change.op not in _OPS:
            raise InvalidInput(f"unknown gallery change {change.op!r}", code="bad_change")
        check_template_id(change.template_id)
        check_scopes([change.scope], 1)
        if change.op == "remove":
            return GalleryChange("remove", change.template_id, change.scope)
        if change.embedding is None:
            raise InvalidInput("an added template needs its embedding", code="bad_embedding")
        row = check_embedding(change.embedding, dim=self._dim)[0]
        return GalleryChange("add", change.template_id, change.scope, row)

    def _seal_digest(self, digest: bytes, name: str) -> bytes:
        return self._sealer.seal(digest, template_id=name, model_version=self._model_version)

    def _open_digest(self, sealed: bytes, name: str) -> bytes:
        return self._sealer.open(sealed, template_id=name, model_version=self._model_version)

    def _tampered(self, what: str) -> InvalidInput:
        return InvalidInput(f"gallery log {self.log_path}: {what}", code="template_tampered")

    @contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[None]:
        """The flock on `.<name>.lock` next to the base: one writer at a time across processes
        (the lock `services.gallery_sync.gallery_file_lock` takes for the gallery file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)


def _apply(gallery: Gallery, changes: list[GalleryChange]) -> None:
    """Apply changes in order; consecutive additions go in as one batch. An addition replaces a
    template of the same id and a removal of an absent one does nothing, so that replaying a
    change the base already holds is harmless."""
    batch: list[GalleryChange] = []
    batched: set[str] = set()

    def flush() -> None:
        if batch:
            rows = np.stack([c.embedding for c in batch if c.embedding is not None])
            gallery.add_many([c.template_id for c in batch], rows, scopes=[c.scope for c in batch])
            batch.clear()
            batched.clear()

    for change in changes:
        if change.template_id in batched or change.template_id in gallery:
            flush()
            if change.template_id in gallery:
                gallery.remove(change.template_id)
        if change.op == "add":
            batch.append(change)
            batched.add(change.template_id)
    flush()


def _check_position(position: object) -> int:
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < 1 << 63:
        raise InvalidInput(
            f"a journal position is an int >= 0, got {position!r}", code="bad_position"
        )
    return position


def _field(data: bytes, width: int) -> bytes:
    return len(data).to_bytes(width, "big") + data


def _take(body: bytes, at: int, width: int) -> tuple[bytes, int]:
    n = int.from_bytes(body[at : at + width], "big")
    if at + width + n > len(body):
        raise IndexError
    return body[at + width : at + width + n], at + width + n


def _read_field(f: BinaryIO, width: int, limit: int) -> bytes | None:
    raw = f.read(width)
    if len(raw) < width:
        return None
    n = int.from_bytes(raw, "big")
    if n > limit:
        return None
    data = f.read(n)
    return data if len(data) == n else None


def _read_record(f: BinaryIO, size: int) -> tuple[bytes, bytes] | None:
    """The next (body, tag), or None at the end or for a record cut short (it then ends the
    log). A length running past the end of the file is a cut-short record, not an error."""
    body = _read_field(f, 4, min(_MAX_FIELD, size))
    if body is None:
        return None
    tag = _read_field(f, 4, 1 << 16)
    return None if tag is None else (body, tag)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
