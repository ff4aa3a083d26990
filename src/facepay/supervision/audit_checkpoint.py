"""Signed checkpoints: a trusted head for `verify_chain`, so that a rewritten tail is caught too.

Anyone with write access to the store can recompute every hash after an edit; only a head signed
with a key they do not hold (and kept elsewhere: printed, mailed, sent to the insurance bureau)
proves the chain up to that point. The signature scheme is a port; Ed25519 lives in `access.keys`,
the key file in `adapters.checkpoint_key`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from facepay.shared.errors import InvalidInput
from facepay.supervision.audit import GENESIS_HASH, AuditHead, canonical_json, format_at

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


# --- Checkpoints of every chain at once --------------------------------------------------------
#
# One chain per hospital (and the platform's) lets sites append without waiting for each other;
# a `Checkpoint` ties them back together. It names the head (seq, hash) of every chain at one
# moment, is hashed and linked to the previous checkpoint like an audit entry, and is signed.
# A checkpoint whose signature verifies vouches for every entry up to those heads: anyone who
# rewrites an older entry and re-hashes the rest of its chain cannot make the head match again.

CHAIN_CHECKPOINT_TYPE = "facepay.audit.checkpoints.v1"


@dataclass(frozen=True)
class Checkpoint:
    """A signed record of the heads of all chains; `seq` counts checkpoints from 1."""

    seq: int
    at: datetime
    heads: dict[str, AuditHead]
    prev_hash: str
    key_id: str
    hash: str
    signature: str
    """Standard base64 of the signature over `chain_checkpoint_message`."""


def heads_json(heads: dict[str, AuditHead]) -> str:
    """The heads as stored: canonical JSON of [{"chain", "seq", "hash"}] sorted by chain."""
    rows = [{"chain": c, "seq": h.seq, "hash": h.hash} for c, h in sorted(heads.items())]
    return canonical_json(rows).decode("utf-8")


def heads_from_json(text: str) -> dict[str, AuditHead]:
    """Parse `heads_json`; InvalidInput `bad_checkpoint` if it is not exactly that form."""
    try:
        rows = json.loads(text)
        heads = {row["chain"]: AuditHead(int(row["seq"]), str(row["hash"])) for row in rows}
        ok = heads_json(heads) == text
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"checkpoint heads are malformed: {exc}", code="bad_checkpoint") from exc
    if not ok:
        raise InvalidInput("checkpoint heads are not canonical JSON", code="bad_checkpoint")
    return heads


def chain_checkpoint_message(
    *, seq: int, at: datetime, heads: dict[str, AuditHead], prev_hash: str, key_id: str
) -> bytes:
    """The bytes that are hashed and signed: canonical JSON of the type and every field."""
    fields = {"type": CHAIN_CHECKPOINT_TYPE, "seq": seq, "at": format_at(at), "key_id": key_id}
    return canonical_json({**fields, "heads": json.loads(heads_json(heads)), "prev": prev_hash})


def make_checkpoint(
    *,
    previous: Checkpoint | None,
    at: datetime,
    heads: dict[str, AuditHead],
    signer: CheckpointSigner,
) -> Checkpoint:
    """The checkpoint after `previous` (None: the first), anchoring `heads`, signed."""
    seq = previous.seq + 1 if previous else 1
    prev_hash = previous.hash if previous else GENESIS_HASH
    format_at(at)  # refuses a naive time
    at = at.astimezone(UTC)
    message = chain_checkpoint_message(
        seq=seq, at=at, heads=heads, prev_hash=prev_hash, key_id=signer.key_id
    )
    signature = base64.b64encode(signer.sign(message)).decode("ascii")
    digest = hashlib.sha256(message).hexdigest()
    return Checkpoint(seq, at, dict(heads), prev_hash, signer.key_id, digest, signature)


@dataclass(frozen=True)
class CheckpointProblem:
    """What is wrong with checkpoint `seq`: a stable `problem` code and a sentence."""

    seq: int
    problem: str
    detail: str


def verify_checkpoints(
    checkpoints: Iterable[Checkpoint], *, verifier: CheckpointVerifier, key_id: str
) -> tuple[list[Checkpoint], CheckpointProblem | None]:
    """Check numbering, links, hashes, key and signatures in order; return the checkpoints that
    are sound up to the first bad one, and that one's problem (None when all are sound)."""
    sound: list[Checkpoint] = []
    last_seq, last_hash = 0, GENESIS_HASH
    for cp in checkpoints:
        found = _checkpoint_problem(cp, last_seq, last_hash, verifier, key_id)
        if found is not None:
            return sound, CheckpointProblem(cp.seq, *found)
        sound.append(cp)
        last_seq, last_hash = cp.seq, cp.hash
    return sound, None


def _checkpoint_problem(
    cp: Checkpoint, last_seq: int, last_hash: str, verifier: CheckpointVerifier, key_id: str
) -> tuple[str, str] | None:
    if cp.seq != last_seq + 1:
        return "bad_seq", f"expected checkpoint {last_seq + 1}, found {cp.seq}"
    message = chain_checkpoint_message(
        seq=cp.seq, at=cp.at, heads=cp.heads, prev_hash=cp.prev_hash, key_id=cp.key_id
    )
    if not hmac.compare_digest(cp.hash, hashlib.sha256(message).hexdigest()):
        return "hash_mismatch", f"checkpoint {cp.seq} was altered"
    if cp.prev_hash != last_hash:
        return "broken_link", f"checkpoint {cp.seq} does not follow {last_seq}"
    if cp.key_id != key_id:
        return "unknown_key", f"checkpoint {cp.seq} is signed by key {cp.key_id}, not {key_id}"
    if not _signature_verifies(message, cp.signature, verifier):
        return "bad_signature", f"checkpoint {cp.seq}'s signature does not verify"
    return None


def _signature_verifies(message: bytes, signature: str, verifier: CheckpointVerifier) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    return verifier.verify(message, raw)
