"""Signed checkpoints: a trusted head for `verify_chain`, so that a rewritten tail is caught too.

Anyone with write access to the store can recompute every hash after an edit; only a head signed
with a key they do not hold (and kept elsewhere: printed, mailed, sent to the insurance bureau)
proves the chain up to that point. The signature scheme is a port; Ed25519 lives in `access.keys`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from facepay.shared.errors import InvalidInput
from facepay.supervision.audit import AuditHead, canonical_json, format_at

CHECKPOINT_TYPE = "facepay.audit.checkpoint.v1"


class CheckpointSigner(Protocol):
    """Signs checkpoint messages with a private key identified by `key_id`."""

    @property
    def key_id(self) -> str:
        """A stable name of the signing key (e.g. its public-key fingerprint)."""
        ...

    def sign(self, message: bytes) -> bytes:
        """Return the signature of `message`."""
        ...


class CheckpointVerifier(Protocol):
    """Checks checkpoint signatures against one public key."""

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True if `signature` is valid for `message`."""
        ...


@dataclass(frozen=True)
class SignedCheckpoint:
    """A head of the chain at a time, signed; `signature` is standard base64."""

    head: AuditHead
    at: datetime
    key_id: str
    signature: str


def checkpoint_message(*, head: AuditHead, at: datetime, key_id: str) -> bytes:
    """The exact bytes that are signed: canonical JSON of type, seq, hash, at and key_id."""
    fields = {"type": CHECKPOINT_TYPE, "seq": head.seq, "hash": head.hash, "key_id": key_id}
    return canonical_json({**fields, "at": format_at(at)})


def sign_checkpoint(*, head: AuditHead, at: datetime, signer: CheckpointSigner) -> SignedCheckpoint:
    """Sign `head` as of `at`."""
    message = checkpoint_message(head=head, at=at, key_id=signer.key_id)
    signature = base64.b64encode(signer.sign(message)).decode("ascii")
    return SignedCheckpoint(head=head, at=at, key_id=signer.key_id, signature=signature)


def trusted_head(*, checkpoint: SignedCheckpoint, verifier: CheckpointVerifier) -> AuditHead:
    """Return the checkpoint's head if its signature verifies, else raise InvalidInput."""
    message = checkpoint_message(head=checkpoint.head, at=checkpoint.at, key_id=checkpoint.key_id)
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("checkpoint signature is not base64", code="bad_checkpoint") from exc
    if not verifier.verify(message, signature):
        raise InvalidInput("checkpoint signature does not verify", code="bad_checkpoint")
    return checkpoint.head
