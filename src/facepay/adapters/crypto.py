"""Template sealing: AES-256-GCM with the template id and model version bound as associated data.

Face templates are biometric data (PIPL): every template that leaves memory is sealed here first.
A sealed record is `nonce (12 bytes) || ciphertext || tag (16 bytes)`. The associated data names
the template and the model, so a record moved to another template id, read as another model's
embedding, or altered by a single bit fails to open — and nothing is returned.

The key is 32 random bytes in a file made on first run with mode 0600; a key file that group or
others can read, or that has the wrong length, is refused rather than used.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facepay.shared.errors import InvalidInput

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_AD_DOMAIN = b"facepay-template-v1"
_KEY_ID_LABEL = b"facepay-template-key-id-v1"

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
        self._key_id = hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:32]

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
        return _read_key(path)
    try:
        os.fchmod(fd, 0o600)  # the umask may only narrow the mode, but be explicit
        os.write(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
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
