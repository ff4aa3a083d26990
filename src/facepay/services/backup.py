"""`facepay admin backup` and `facepay admin restore`: the database and the gallery file in one
archive, with a manifest that says what it holds and lets a restore check it.

The archive is a gzip'd tar (`tar tzf` lists it) of

    database.sqlite          the whole database as of one moment (facepay.adapters.db.snapshot),
                             whichever database it came from
    gallery.sealed           the sealed gallery file, if there is one: a cache of the templates
                             table (a server checks it against the database and rebuilds it if
                             it differs), kept so that a restored server need not rebuild it
    template.key[.previous]  only with `--include-key`
    manifest.json            last: format, facepay version, Alembic revision, the ids of the
                             template keys the templates are sealed with, rows per table, and the
                             SHA-256 and size of every other member

The template key is not in the archive unless asked for: a stolen backup then holds sealed
templates nobody can open (names, ID numbers and payments are in it in clear, as in the
database: protect backups as you protect the database). The key is backed up on its own, once
per rotation; a restore needs it in the target folder (or in the archive) and checks its id.

The checksums catch a damaged or truncated archive; they are not a signature (whoever can
rewrite the archive can rewrite its manifest). Templates stay authenticated by their AES-GCM
seal, the audit log by its hash chains.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine

from facepay import __version__
from facepay.adapters.crypto import (
    TemplateKeyring,
    TemplateSealer,
    previous_key_file,
    read_key_file,
    write_key_file,
)
from facepay.adapters.data_dir import create_private_file
from facepay.adapters.db.migrate import upgrade
from facepay.adapters.db.snapshot import (
    VERSION_TABLE,
    copy_rows,
    current_revision,
    drop_tables,
    head_revision,
    is_known_revision,
    postgres_snapshot,
    sqlite_file,
    sqlite_snapshot,
    table_counts,
    tables_with_data,
)
from facepay.adapters.db.tables import metadata
from facepay.services.template_integrity import KEY_ID, RETIRING_KEY_ID
from facepay.shared.errors import ConfigurationError, Conflict, InvalidInput
from facepay.shared.files import fsync_folder

FORMAT = "facepay-backup"
FORMAT_VERSION = 1
DATABASE = "database.sqlite"
GALLERY = "gallery.sealed"
SNAPSHOT = "gallery.snapshot"
"""The server's gallery snapshot (bootstrap): a restart file, not backed up, dropped on restore."""
KEY = "template.key"
PREVIOUS_KEY = "template.key.previous"
MANIFEST = "manifest.json"
MEMBERS = (DATABASE, GALLERY, KEY, PREVIOUS_KEY)
_CHUNK = 1 << 20
_MAX_MANIFEST = 1 << 20


@dataclass(frozen=True)
class Installation:
    """Where an installation keeps its parts (from the settings, in the command)."""

    database: Engine
    data_dir: Path
    key_file: Path
    gallery_path: Path
    sqlite_path: Path | None
    """The SQLite file when the database is the embedded one."""


@dataclass(frozen=True)
class Manifest:
    """What a backup holds."""

    facepay_version: str
    created_at: str
    source: str
    """The database it was taken from: 'sqlite' or 'postgresql'."""
    revision: str
    key_ids: list[str]
    """Ids of the keys its templates are sealed with: the key, and during a rotation the one
    being retired. Empty if the database records none (no template was ever stored)."""
    tables: dict[str, int]
    files: dict[str, dict[str, Any]]
    key_included: bool

    def to_json(self) -> bytes:
        """The manifest member's bytes."""
        body = {"format": FORMAT, "format_version": FORMAT_VERSION, **self.__dict__}
        return json.dumps(body, indent=2, sort_keys=True).encode()


@dataclass(frozen=True)
class BackupReport:
    """What `backup` wrote."""

    path: Path
    manifest: Manifest
    bytes: int
    seconds: float


@dataclass
class RestoreReport:
    """What `restore` did."""

    manifest: Manifest
    migrated_to: str
    tables: dict[str, int]
    keys_installed: list[str] = field(default_factory=list)
    gallery: bool = False
    replaced: list[str] = field(default_factory=list)
    """Tables that held data before (`force`)."""
    seconds: float = 0.0


def backup(*, site: Installation, to: Path, include_key: bool = False) -> BackupReport:
    """Write a consistent backup of the database and the gallery file to the new file `to`."""
    started = time.monotonic()
    if to.exists():
        raise InvalidInput(f"{to} exists already: give a new file name", code="backup_exists")
    if not to.parent.is_dir():
        raise InvalidInput(f"no folder {to.parent} to write {to.name} in", code="backup_folder")
    with _staging(to.parent, ".facepay-backup-") as staging:
        snapshot = staging / DATABASE
        if site.sqlite_path is not None:
            if not site.sqlite_path.is_file():
                raise ConfigurationError(
                    f"no database {site.sqlite_path}: nothing to back up", code="not_initialised"
                )
            sqlite_snapshot(site.sqlite_path, snapshot)
        else:
            postgres_snapshot(site.database, snapshot)
        revision, key_ids, tables = _describe(snapshot)
        keys = _keys_to_include(site.key_file, key_ids) if include_key else {}
        files: dict[str, dict[str, Any]] = {}
        partial = to.with_name(f".{to.name}.{secrets.token_hex(4)}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw:
                with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
                    files[DATABASE] = _add(tar, DATABASE, snapshot)
                    gallery = _open_if_exists(site.gallery_path)
                    if gallery is not None:
                        with gallery:
                            files[GALLERY] = _add_stream(tar, GALLERY, gallery)
                    for name, path in keys.items():
                        files[name] = _add(tar, name, path)
                    manifest = Manifest(
                        facepay_version=__version__,
                        created_at=datetime.now(UTC).isoformat(),
                        source="sqlite" if site.sqlite_path is not None else "postgresql",
                        revision=revision,
                        key_ids=key_ids,
                        tables=tables,
                        files=files,
                        key_included=bool(keys),
                    )
                    _add_bytes(tar, MANIFEST, manifest.to_json())
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(partial, to)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        fsync_folder(to.parent)
    return BackupReport(to, manifest, to.stat().st_size, time.monotonic() - started)


def restore(*, site: Installation, archive: Path, force: bool = False) -> RestoreReport:
    """Restore `archive` into the installation: refuses a target holding data (unless
    `force`), a damaged archive and a key that is not the backup's; upgrades the database if
    the backup is older."""
    started = time.monotonic()
    with _staging(site.data_dir, ".restore-") as staging:
        manifest = read_archive(archive, staging)
        if not is_known_revision(manifest.revision):
            raise InvalidInput(
                f"{archive} was made by a newer facepay (database revision "
                f"{manifest.revision}; this one knows up to {head_revision()}): upgrade "
                "facepay first",
                code="backup_too_new",
            )
        keys = _keys_to_install(site.key_file, manifest, staging)
        # facepay's tables only: a database shared with other software keeps the rest.
        ours = {*metadata.tables, *manifest.tables, VERSION_TABLE}
        with site.database.connect() as connection:
            held = tables_with_data(connection, ours)
        if held and not force:
            raise Conflict(
                f"the target database already holds data (in {', '.join(held)}): restore "
                "into an empty database, or add --force to replace everything in it",
                code="target_not_empty",
            )
        report = RestoreReport(manifest, manifest.revision, {}, replaced=held)
        for name, key in keys.items():
            write_key_file(_key_path(site.key_file, name), key)
            report.keys_installed.append(TemplateSealer(key).key_id)
        if site.sqlite_path is not None:
            create_private_file(site.sqlite_path)
        report.tables = _restore_database(site.database, staging / DATABASE, manifest, ours)
        with site.database.connect() as connection:
            report.migrated_to = current_revision(connection) or manifest.revision
        report.gallery = _restore_gallery(site.gallery_path, staging, manifest)
    report.seconds = time.monotonic() - started
    return report


def _restore_database(
    database: Engine, snapshot: Path, manifest: Manifest, ours: set[str]
) -> dict[str, int]:
    with database.begin() as connection:
        drop_tables(connection, ours)
    upgrade(database, manifest.revision)
    with (
        sqlite_file(snapshot) as source,
        source.connect() as rows,
        database.begin() as connection,
    ):
        copied = copy_rows(rows, connection)
        if copied != manifest.tables:
            raise InvalidInput(
                "the backup's database does not hold the rows its manifest lists",
                code="backup_corrupt",
            )
    upgrade(database)
    return copied


def _restore_gallery(path: Path, staging: Path, manifest: Manifest) -> bool:
    # The replaced database's snapshot (a server's restart file) does not fit the restored one.
    for name in (SNAPSHOT, f"{SNAPSHOT}.log"):
        path.with_name(name).unlink(missing_ok=True)
    if GALLERY not in manifest.files:
        path.unlink(missing_ok=True)  # it was the replaced database's
        return False
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    shutil.copyfile(staging / GALLERY, tmp)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    fsync_folder(path.parent)
    return True


def read_archive(path: Path, into: Path) -> Manifest:
    """Unpack `path` into the folder `into`, checking every member against the manifest;
    `InvalidInput` for anything missing, extra, damaged or truncated."""
    digests: dict[str, dict[str, Any]] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                if (
                    member.name not in (*MEMBERS, MANIFEST)
                    or not member.isfile()
                    or member.name in digests
                ):
                    raise _bad(path, f"unexpected member {member.name!r}")
                if member.name == MANIFEST and member.size > _MAX_MANIFEST:
                    raise _bad(path, "its manifest is too large")
                source = tar.extractfile(member)
                assert source is not None
                with source:
                    digests[member.name] = _write_hashed(source, into / member.name)
    except FileNotFoundError:
        raise InvalidInput(f"no backup file {path}", code="backup_missing") from None
    except IsADirectoryError:
        raise InvalidInput(
            f"{path} is a folder, not a backup file", code="backup_corrupt"
        ) from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise _bad(path, f"damaged or truncated ({detail})") from None
    if MANIFEST not in digests:
        raise _bad(path, "it has no manifest (truncated?)")
    manifest = _parse_manifest(path, (into / MANIFEST).read_bytes())
    for name, expected in manifest.files.items():
        found = digests.get(name)
        if found is None:
            raise _bad(path, f"{name} is missing")
        if found != expected:
            raise _bad(path, f"{name} does not match its checksum")
    extra = set(digests) - set(manifest.files) - {MANIFEST}
    if extra:
        raise _bad(path, f"{', '.join(sorted(extra))} is not in its manifest")
    if DATABASE not in manifest.files:
        raise _bad(path, "it holds no database")
    return manifest


def _bad(path: Path, why: str) -> InvalidInput:
    return InvalidInput(f"{path} is not a usable facepay backup: {why}", code="backup_corrupt")


def _parse_manifest(path: Path, raw: bytes) -> Manifest:
    try:
        body = json.loads(raw)
        if body.pop("format") != FORMAT:
            raise ValueError
        if body.pop("format_version") != FORMAT_VERSION:
            raise _bad(path, "it is of another backup format version")
        manifest = Manifest(**body)
        if not (
            isinstance(manifest.revision, str)
            and isinstance(manifest.key_ids, list)
            and all(isinstance(k, str) for k in manifest.key_ids)
            and isinstance(manifest.tables, dict)
            and isinstance(manifest.files, dict)
        ):
            raise ValueError
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError):
        raise _bad(path, "its manifest is unreadable") from None
    return manifest


def _describe(snapshot: Path) -> tuple[str, list[str], dict[str, int]]:
    """The snapshot's revision, template key ids and rows per table."""
    with sqlite_file(snapshot) as engine, engine.connect() as connection:
        revision = current_revision(connection)
        tables = table_counts(connection)
    if revision is None:
        raise ConfigurationError("the database holds no facepay schema", code="not_initialised")
    key_ids: list[str] = []
    with closing(sqlite3.connect(snapshot)) as raw:
        names = (KEY_ID, RETIRING_KEY_ID)
        if "installation" in tables:
            found = dict(
                raw.execute(
                    "SELECT name, value FROM installation WHERE name IN (?, ?)", names
                ).fetchall()
            )
            key_ids = [found[n] for n in names if found.get(n)]
    return revision, key_ids, tables


def _keys_to_include(key_file: Path, key_ids: list[str]) -> dict[str, Path]:
    """The key files that open this backup's templates (refusing a folder without them)."""
    if not key_file.exists():
        raise ConfigurationError(
            f"--include-key: there is no template key at {key_file}", code="missing_template_key"
        )
    ring = TemplateKeyring(key_file, create=False)
    missing = [k for k in key_ids if k not in ring.key_ids]
    if missing:
        raise ConfigurationError(
            f"--include-key: the key file(s) at {key_file} do not hold the database's template "
            f"key(s) {', '.join(missing)}",
            code="wrong_template_key",
        )
    included = {KEY: key_file}
    if previous_key_file(key_file).exists():
        included[PREVIOUS_KEY] = previous_key_file(key_file)
    return included


def _keys_to_install(key_file: Path, manifest: Manifest, staging: Path) -> dict[str, bytes]:
    """Check the target folder's key against the backup's; the archive's keys to install if
    the folder has none. Refuses before anything is written."""
    if not manifest.key_ids:
        return {}
    if key_file.exists():
        held = TemplateKeyring(key_file, create=False).key_ids
        missing = [k for k in manifest.key_ids if k not in held]
        if missing:
            raise ConfigurationError(
                f"the template key at {key_file} (id {held[0]}) is not the key of this backup "
                f"(id {', '.join(missing)}): put the backup's key there, or restore into "
                "another folder",
                code="wrong_template_key",
            )
        return {}
    keys = {name: read_key_file(staging / name) for name in (KEY, PREVIOUS_KEY)
            if name in manifest.files}  # fmt: skip
    ids = {TemplateSealer(key).key_id for key in keys.values()}
    missing = [k for k in manifest.key_ids if k not in ids]
    if missing:
        raise ConfigurationError(
            f"no template key at {key_file}: copy the key of this backup (id "
            f"{', '.join(missing)}), kept apart from the backups, to {key_file} (mode 0600), "
            "then restore again",
            code="missing_template_key",
        )
    return keys


def _key_path(key_file: Path, member: str) -> Path:
    return previous_key_file(key_file) if member == PREVIOUS_KEY else key_file


@contextmanager
def _staging(parent: Path, prefix: str) -> Iterator[Path]:
    """A private (0700) scratch folder in `parent`, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _open_if_exists(path: Path) -> IO[bytes] | None:
    try:
        return path.open("rb")  # the file replaced meanwhile: this one stays whole
    except FileNotFoundError:
        return None


class _Hashing:
    """A reader that hashes what passes through it."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source, self.digest, self.size = source, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.source.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def summary(self) -> dict[str, Any]:
        return {"sha256": self.digest.hexdigest(), "bytes": self.size}


def _add(tar: tarfile.TarFile, name: str, path: Path) -> dict[str, Any]:
    with path.open("rb") as source:
        return _add_stream(tar, name, source)


def _add_stream(tar: tarfile.TarFile, name: str, source: IO[bytes]) -> dict[str, Any]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = os.fstat(source.fileno()).st_size, 0o600, int(time.time())
    hashing = _Hashing(source)
    tar.addfile(info, hashing)
    return hashing.summary()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _write_hashed(source: IO[bytes], target: Path) -> dict[str, Any]:
    hashing = _Hashing(source)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := hashing.read(_CHUNK):
            out.write(chunk)
    return hashing.summary()
