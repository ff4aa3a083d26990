"""Template sealing: AES-256-GCM with the template id and model version bound as associated data.

Face templates are biometric data (PIPL): every template that leaves memory is sealed here first.
A sealed record is `nonce (12 bytes) || ciphertext || tag (16 bytes)`. The associated data names
the template and the model, so a record moved to another template id, read as another model's
embedding, or altered by a single bit fails to open — and nothing is returned.

The key is 32 random bytes in a file made on first run with mode 0600; a key file that group or
others can read, or that has the wrong length, is refused rather than used.

Keyring. `TemplateKeyring` is what a server uses: the key file in force (`template.key`: seals
and opens) and, while `facepay admin rotate-key` runs, the key being retired next to it
(`template.key.previous`: opens only). A record does not say which key sealed it: the keyring
tries each key, and GCM's tag tells the right one (a wrong key fails authentication, it never
returns other bytes). The keyring re-reads the files when they change (checked at most once a
second, and at once when a record opens with none of its keys), so a running server picks up a
rotation without a restart. `template.key.next` holds a new key before the switch.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facepay.shared.errors import InvalidInput
from facepay.shared.files import fsync_folder

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_AD_DOMAIN = b"facepay-template-v1"
_KEY_ID_LABEL = b"facepay-template-key-id-v1"
RELOAD_SECONDS = 1.0
"""How often a keyring looks whether its key files changed (a rotation switched them)."""

Buffer = bytes | bytearray | memoryview
"""Anything sealed or opened: slices of a large index travel as memoryviews, without a copy."""


class TemplateSealer:
    """Seals and opens template bytes with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise InvalidInput(
                f"template key must be {KEY_BYTES} bytes, got {len(key)}", code="bad_template_key"
            )
        self._aead = AESGCM(key)
        # A name for the key that says nothing about it: the database records it, so that a
        # start with another key file is told so in one sentence instead of failing every row.
        self._key_id = key_id_of(key)

    def __repr__(self) -> str:
        return "TemplateSealer(key=***)"

    @property
    def key_id(self) -> str:
        """A stable, non-secret name of the key (HMAC-SHA256 of a fixed label, 128 bits)."""
        return self._key_id

    @classmethod
    def from_key_file(cls, path: Path) -> TemplateSealer:
        """Load the key at `path`, making a new random one (mode 0600) if the file is absent."""
        return cls(load_or_create_key(path))

    def seal(self, data: Buffer, *, template_id: str, model_version: str) -> bytes:
        """Encrypt `data` under a fresh random nonce, bound to the template id and model."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, _associated_data(template_id, model_version))

    def open(self, sealed: Buffer, *, template_id: str, model_version: str) -> bytes:
        """Decrypt a sealed record; any tampering, swapped id or other model is an error."""
        view = memoryview(sealed)
        if len(view) < NONCE_BYTES + TAG_BYTES:
            raise InvalidInput("sealed template record is truncated", code="template_tampered")
        try:
            return self._aead.decrypt(
                view[:NONCE_BYTES],
                view[NONCE_BYTES:],
                _associated_data(template_id, model_version),
            )
        except InvalidTag:
            raise InvalidInput(
                f"sealed template {template_id!r} ({model_version}) failed authentication: "
                "tampered, moved to another id or model, or sealed with another key",
                code="template_tampered",
            ) from None


class TemplateKeyring:
    """The current key file (seals and opens) and the key being retired (opens only), re-read
    when the files change: the sealer of a server, which a key rotation must not interrupt."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self._path = path
        self._previous = previous_key_file(path)
        self._lock = threading.Lock()
        if create:
            load_or_create_key(path)
        self._sealers, self._seen = self._read()
        self._checked_at = time.monotonic()

    def __repr__(self) -> str:
        return f"TemplateKeyring({self._path}, keys={list(self.key_ids)})"

    @property
    def path(self) -> Path:
        """The current key file."""
        return self._path

    @property
    def key_id(self) -> str:
        """The id of the current key, the one new records are sealed with."""
        return self._sealers[0].key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key that opens records: the current one first."""
        return tuple(s.key_id for s in self._sealers)

    def sealer(self, key_id: str) -> TemplateSealer | None:
        """The single-key sealer of `key_id`, if this keyring holds that key."""
        return next((s for s in self._sealers if s.key_id == key_id), None)

    def seal(self, data: Buffer, *, template_id: str, model_version: str) -> bytes:
        """Seal under the current key (re-reading the key files if they changed)."""
        self.refresh()
        return self._sealers[0].seal(data, template_id=template_id, model_version=model_version)

    def open(self, sealed: Buffer, *, template_id: str, model_version: str) -> bytes:
        """Open a record sealed under any key of the keyring."""
        try:
            return _open_with(self._sealers, sealed, template_id, model_version)
        except InvalidInput:
            # A rotation may have re-sealed it under a key this process has not read yet.
            if not self.refresh(force=True):
                raise
        return _open_with(self._sealers, sealed, template_id, model_version)

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read the key files if they changed (at most once a second unless `force`);
        True if the keys changed. Files that cannot be read keep the keys in use."""
        if not force and time.monotonic() - self._checked_at < RELOAD_SECONDS:
            return False
        with self._lock:
            self._checked_at = time.monotonic()
            if _signature(self._path, self._previous) == self._seen:
                return False
            try:
                sealers, seen = self._read()
            except (InvalidInput, OSError):
                return (
                    False  # e.g. the key file made unsafe: keep the keys this server started with
                )
            changed = [s.key_id for s in sealers] != list(self.key_ids)
            self._sealers, self._seen = sealers, seen
            return changed

    def _read(self) -> tuple[tuple[TemplateSealer, ...], object]:
        seen = _signature(self._path, self._previous)
        current = TemplateSealer(read_key_file(self._path))
        try:
            previous = TemplateSealer(read_key_file(self._previous))
        except FileNotFoundError:
            return (current,), seen
        if previous.key_id == current.key_id:
            return (current,), seen
        return (current, previous), seen


def _open_with(
    sealers: Sequence[TemplateSealer], sealed: Buffer, template_id: str, model_version: str
) -> bytes:
    failure: InvalidInput | None = None
    for sealer in sealers:
        try:
            return sealer.open(sealed, template_id=template_id, model_version=model_version)
        except InvalidInput as error:
            failure = error
    assert failure is not None
    raise failure


def _signature(*paths: Path) -> object:
    """What changes when a key file is replaced (a rename gives it a new inode)."""
    out: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            info = path.stat()
        except FileNotFoundError:
            out.append(None)
        else:
            out.append((info.st_ino, info.st_mtime_ns, info.st_size))
    return tuple(out)


def key_id_of(key: bytes) -> str:
    """The non-secret id of a key: HMAC-SHA256 of a fixed label, 128 bits in hex."""
    return hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:32]


def previous_key_file(path: Path) -> Path:
    """Where the key being retired lives while a rotation runs (`template.key.previous`)."""
    return path.with_name(path.name + ".previous")


def next_key_file(path: Path) -> Path:
    """Where a rotation keeps its new key before switching (`template.key.next`)."""
    return path.with_name(path.name + ".next")


def new_key() -> bytes:
    """32 random bytes."""
    return secrets.token_bytes(KEY_BYTES)


def write_key_file(path: Path, key: bytes) -> None:
    """Write `key` to `path` (0600) so that readers see the old file or the new one, never a
    part: a temporary file, fsync, rename, fsync of the folder."""
    if len(key) != KEY_BYTES:
        raise InvalidInput(f"template key must be {KEY_BYTES} bytes", code="bad_template_key")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def _associated_data(template_id: str, model_version: str) -> bytes:
    # Length prefixes keep ("ab", "c") and ("a", "bc") apart.
    parts = [_AD_DOMAIN, model_version.encode(), template_id.encode()]
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def load_or_create_key(path: Path) -> bytes:
    """Read the 32-byte key at `path` (refusing unsafe files), creating it on first run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_key_file(path)
    try:
        os.fchmod(fd, 0o600)  # the umask may only narrow the mode, but be explicit
        os.write(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    return read_key_file(path)


def read_key_file(path: Path) -> bytes:
    """Read a 32-byte key file, refusing one that is not a regular 0600 file of 32 bytes
    (`FileNotFoundError` if there is none)."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"template key {path} is not a regular file", code="bad_template_key")
    if info.st_mode & 0o077:
        raise InvalidInput(
            f"template key {path} is readable by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):o}); run `chmod 600 {path}`",
            code="insecure_template_key",
        )
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise InvalidInput(
            f"template key {path} must hold {KEY_BYTES} bytes, found {len(key)}",
            code="bad_template_key",
        )
    return key
