"""Ed25519 public keys as admins and terminals exchange them, and the audit checkpoint signer.

A terminal exports its public key as SubjectPublicKeyInfo PEM or as base64 of the raw 32 bytes;
admins compare keys out of band by their `SHA256:` fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from facepay.shared.errors import InvalidInput


def public_key_from_text(text: str) -> bytes:
    """Raw 32-byte key from what a terminal exports: SubjectPublicKeyInfo PEM or base64 raw."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
            if not isinstance(key, Ed25519PublicKey):
                raise InvalidInput("the public key is not Ed25519", code="bad_key")
            return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        raw = base64.b64decode(text, validate=True)
        Ed25519PublicKey.from_public_bytes(raw)  # checks the length
    except (ValueError, TypeError, UnicodeEncodeError, binascii.Error) as exc:
        raise InvalidInput("not an Ed25519 public key (PEM or base64)", code="bad_key") from exc
    return raw


def key_fingerprint(public_key: bytes) -> str:
    """`SHA256:<base64>` of the raw public key, for admins to compare out of band."""
    digest = base64.b64encode(hashlib.sha256(public_key).digest()).decode("ascii").rstrip("=")
    return f"SHA256:{digest}"


class Ed25519CheckpointSigner:
    """Signs audit checkpoints (`supervision.audit_checkpoint.CheckpointSigner`)."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._key_id = key_fingerprint(raw)

    @property
    def key_id(self) -> str:
        """The public key's fingerprint."""
        return self._key_id

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature of `message`."""
        return self._key.sign(message)


class Ed25519CheckpointVerifier:
    """Verifies audit checkpoints against one raw Ed25519 public key."""

    def __init__(self, public_key: bytes) -> None:
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True if the signature is valid."""
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True
