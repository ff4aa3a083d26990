"""The offline protocol between a terminal agent and the server, and its one definition.

Three documents cross the wire; both sides build and check them with the functions below, so the
agent (`facepay terminal run`) and the server (`facepay.services.offline`) cannot drift apart.

- **Offline limits** (server to terminal): a `SignedDocument` whose payload is canonical JSON of
  kind `facepay.offline-limits.v1`, signed by the server's offline signing key (Ed25519). It holds
  the site's `OfflineLimits`, the deny list (persons who must not pay offline), the version and
  SHA-256 of the offline library sent with it, and when it was issued. The terminal keeps the
  signed bytes and checks the signature every time it loads them, so a limit edited on the
  terminal's disk is refused.
- **Offline library** (server to terminal): the templates, open bills, accumulators and policies
  of the patients the site needs offline, JSON sealed to the terminal's X25519 key by `seal`
  (ephemeral X25519, HKDF-SHA256, AES-256-GCM). Only that terminal can open it.
- **Offline voucher** (terminal to server): one offline payment, canonical JSON of kind
  `facepay.offline-voucher.v1` signed by the terminal's Ed25519 key. Vouchers form a chain per
  terminal: `counter` goes 1, 2, 3, ... and `prev_hash` is the SHA-256 of the previous voucher's
  body bytes (`GENESIS` for the first), so a voucher removed, changed or inserted is seen.

Canonical JSON is `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True)` with no
floats (scores travel as integers in millionths): every implementation produces the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from facepay.shared.errors import InvalidInput

LIMITS_KIND = "facepay.offline-limits.v1"
LIBRARY_KIND = "facepay.offline-library.v1"
VOUCHER_KIND = "facepay.offline-voucher.v1"
GENESIS = "0" * 64
"""`prev_hash` of a terminal's first voucher."""
MAX_DOCUMENT_BYTES = 64 * 1024
"""A voucher or a limits document is small; anything larger is refused before parsing."""
SCORE_SCALE = 1_000_000
"""Scores (cosine similarity, liveness) travel as integers: round(score * SCORE_SCALE)."""

_SEAL_VERSION = b"\x01"
_SEAL_INFO = b"facepay-offline-seal-v1"
_UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def canonical(document: dict[str, Any]) -> bytes:
    """The one byte form of a document: sorted keys, no spaces, ASCII, no floats."""
    _no_floats(document, "document")
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _no_floats(value: object, where: str) -> None:
    if isinstance(value, float):
        raise InvalidInput(f"{where}: numbers in a signed document are integers")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_floats(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _no_floats(item, f"{where}.{index}")


def digest(data: bytes) -> str:
    """Lower-case hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def uuid7(now_ms: int | None = None) -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits; sorts by time."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= secrets.randbits(12) << 64
    value |= 0b10 << 62
    value |= secrets.randbits(62)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def is_uuid7(text: str) -> bool:
    """Whether `text` is a lower-case UUIDv7."""
    return bool(_UUID7.fullmatch(text))


def score_units(score: float) -> int:
    """A score in [-1, 1] as the integer a signed document carries."""
    return round(score * SCORE_SCALE)


def b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: object, what: str) -> bytes:
    """Bytes of standard base64 text; InvalidInput naming `what` otherwise."""
    if not isinstance(text, str):
        raise InvalidInput(f"{what} must be base64 text", code="offline_document_malformed")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what} is not base64", code="offline_document_malformed") from None


# -- keys ----------------------------------------------------------------------------------


def ed25519_public_raw(key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of an Ed25519 key's public half."""
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def x25519_public_raw(key: X25519PrivateKey) -> bytes:
    """The 32 raw bytes of an X25519 key's public half."""
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_raw: bytes) -> str:
    """A short name of a public key: the first 16 hex digits of its SHA-256."""
    return digest(public_raw)[:16]


# -- signed documents ----------------------------------------------------------------------


def sign_document(key: Ed25519PrivateKey, payload: dict[str, Any]) -> dict[str, str]:
    """`{"payload", "signature", "key_id"}`: the payload's canonical bytes, signed."""
    data = canonical(payload)
    return {
        "payload": b64(data),
        "signature": b64(key.sign(data)),
        "key_id": key_id(ed25519_public_raw(key)),
    }


def open_document(signed: object, public_raw: bytes, *, kind: str) -> tuple[dict[str, Any], bytes]:
    """The payload of a signed document and its bytes, after checking the signature and kind.

    Raises InvalidInput `offline_document_malformed` (not a document), `offline_signature_bad`
    (signed by another key, or altered) or `offline_document_kind` (another kind of document).
    """
    if not isinstance(signed, dict):
        raise InvalidInput("a signed document is a JSON object", code="offline_document_malformed")
    data = unb64(signed.get("payload"), "payload")
    signature = unb64(signed.get("signature"), "signature")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InvalidInput("the signed document is too large", code="offline_document_malformed")
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, data)
    except (InvalidSignature, ValueError):
        raise InvalidInput(
            "the document's signature does not verify", code="offline_signature_bad"
        ) from None
    try:
        payload = json.loads(data)
    except ValueError:
        raise InvalidInput("the payload is not JSON", code="offline_document_malformed") from None
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        raise InvalidInput(f"the document is not a {kind}", code="offline_document_kind")
    if canonical(payload) != data:
        raise InvalidInput("the payload is not canonical JSON", code="offline_document_malformed")
    return payload, data


# -- limits --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfflineLimits:
    """What a site's terminals may do while they cannot reach the server (fen, counts, seconds).

    `per_payment_fen`: the most one offline payment may come to; `cumulative_fen`: the most all
    unsynchronised offline payments of one terminal may come to together; `per_patient_consecutive`
    / `per_terminal_consecutive`: how many offline payments one patient / one terminal may make in
    a row before the server has seen them; `max_upload_age_seconds`: how long a voucher may wait
    for upload before the terminal stops paying offline; `max_library_age_seconds`: how old the
    offline face library may be for face payment offline; `refresh_seconds`: how often an online
    terminal fetches a fresh library. `enabled` False turns offline payment off for the site.
    """

    enabled: bool = True
    per_payment_fen: int = 50_000
    cumulative_fen: int = 500_000
    per_patient_consecutive: int = 3
    per_terminal_consecutive: int = 200
    max_upload_age_seconds: int = 86_400
    max_library_age_seconds: int = 600
    refresh_seconds: int = 90

    def __post_init__(self) -> None:
        bounds = {
            "per_payment_fen": (0, 10_000_000),
            "cumulative_fen": (0, 100_000_000),
            "per_patient_consecutive": (0, 100),
            "per_terminal_consecutive": (0, 100_000),
            "max_upload_age_seconds": (60, 7 * 86_400),
            "max_library_age_seconds": (60, 86_400),
            "refresh_seconds": (10, 3_600),
        }
        if not isinstance(self.enabled, bool):
            raise InvalidInput("enabled: true or false", code="bad_offline_limits")
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidInput(
                    f"{name}: a whole number from {low} to {high}", code="bad_offline_limits"
                )
        if self.per_payment_fen > self.cumulative_fen:
            raise InvalidInput(
                "per_payment_fen cannot exceed cumulative_fen", code="bad_offline_limits"
            )

    def to_json(self) -> dict[str, Any]:
        """The limits as a JSON object."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> OfflineLimits:
        """Limits from a JSON object with exactly the fields of `OfflineLimits`."""
        names = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or set(data) != names:
            raise InvalidInput(
                f"offline limits are a JSON object with {', '.join(sorted(names))}",
                code="bad_offline_limits",
            )
        return cls(**data)


# -- sealing -------------------------------------------------------------------------------


def _seal_key(shared: bytes, ephemeral: bytes, recipient: bytes, context: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=ephemeral + recipient,
        info=_SEAL_INFO + b"\x00" + context,
    ).derive(shared)


def seal(recipient_raw: bytes, plaintext: bytes, *, context: bytes) -> bytes:
    """Encrypt `plaintext` so that only the holder of the X25519 key `recipient_raw` can read
    it: `0x01 || ephemeral public (32) || nonce (12) || AES-256-GCM ciphertext and tag`.
    `context` (e.g. the terminal id and library version) is bound as associated data."""
    try:
        recipient = X25519PublicKey.from_public_bytes(recipient_raw)
    except ValueError:
        raise InvalidInput("not an X25519 public key", code="bad_sealing_key") from None
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = x25519_public_raw(ephemeral)
    key = _seal_key(ephemeral.exchange(recipient), ephemeral_raw, recipient_raw, context)
    nonce = os.urandom(12)
    return _SEAL_VERSION + ephemeral_raw + nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def open_sealed(recipient: X25519PrivateKey, sealed: bytes, *, context: bytes) -> bytes:
    """The plaintext of `seal`; InvalidInput `offline_seal_bad` if it was altered, sealed to
    another key or under another context."""
    if len(sealed) < 1 + 32 + 12 + 16 or sealed[:1] != _SEAL_VERSION:
        raise InvalidInput("not a sealed offline document", code="offline_seal_bad")
    ephemeral_raw, nonce, body = sealed[1:33], sealed[33:45], sealed[45:]
    try:
        shared = recipient.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
        key = _seal_key(shared, ephemeral_raw, x25519_public_raw(recipient), context)
        return AESGCM(key).decrypt(nonce, body, context)
    except (InvalidTag, ValueError):
        raise InvalidInput("the sealed document does not open", code="offline_seal_bad") from None


def library_context(terminal_id: str, version: str) -> bytes:
    """What a library is sealed under: it opens only as this terminal's library of this version."""
    return f"{LIBRARY_KIND}\n{terminal_id}\n{version}".encode("ascii")


# -- vouchers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Voucher:
    """One offline payment as the terminal signed it (see the module docstring)."""

    id: str
    terminal_id: str
    hospital_id: str
    counter: int
    prev_hash: str
    created_at: str
    limits_version: str
    library_version: str
    bill_id: str
    bill_total_fen: int
    person_id: str
    evidence: dict[str, Any]
    provisional: dict[str, Any]
    cash_collected_fen: int

    def __post_init__(self) -> None:
        checks: list[tuple[str, bool]] = [
            ("id: a UUIDv7", isinstance(self.id, str) and is_uuid7(self.id)),
            ("counter: a whole number from 1", _count(self.counter, 1)),
            (
                "prev_hash: 64 hex digits",
                isinstance(self.prev_hash, str) and bool(_HEX64.fullmatch(self.prev_hash)),
            ),
            ("bill_total_fen: whole fen", _count(self.bill_total_fen, 0)),
            ("cash_collected_fen: whole fen", _count(self.cash_collected_fen, 0)),
            ("evidence: an object", isinstance(self.evidence, dict)),
            ("provisional: an object", isinstance(self.provisional, dict)),
        ]
        for name in (
            "terminal_id",
            "hospital_id",
            "limits_version",
            "library_version",
            "bill_id",
            "person_id",
        ):
            value = getattr(self, name)
            checks.append((f"{name}: an id", isinstance(value, str) and bool(_ID.fullmatch(value))))
        try:
            created = datetime.fromisoformat(self.created_at)
            checks.append(("created_at: with its time zone", created.tzinfo is not None))
        except (TypeError, ValueError):
            checks.append(("created_at: an ISO 8601 time", False))
        bad = [label for label, ok in checks if not ok]
        if bad:
            raise InvalidInput(
                "malformed voucher: " + "; ".join(bad), code="offline_document_malformed"
            )

    @property
    def created(self) -> datetime:
        """`created_at` as a time (the terminal's clock, which may be wrong)."""
        return datetime.fromisoformat(self.created_at).astimezone(UTC)

    def payload(self) -> dict[str, Any]:
        """The JSON that is signed."""
        return {"kind": VOUCHER_KIND, **asdict(self)}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Voucher:
        """A voucher from its signed JSON, with exactly the voucher's fields."""
        names = {f.name for f in fields(cls)} | {"kind"}
        if set(payload) != names:
            raise InvalidInput(
                "a voucher has exactly the fields " + ", ".join(sorted(names)),
                code="offline_document_malformed",
            )
        return cls(**{k: v for k, v in payload.items() if k != "kind"})


def _count(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= 2**53


def sign_voucher(key: Ed25519PrivateKey, voucher: Voucher) -> tuple[dict[str, str], str]:
    """The signed voucher and its hash (what the next voucher's `prev_hash` is)."""
    signed = sign_document(key, voucher.payload())
    return signed, digest(canonical(voucher.payload()))


def open_voucher(signed: object, public_raw: bytes) -> tuple[Voucher, str]:
    """A voucher and its hash, after checking its signature by the terminal's key."""
    payload, data = open_document(signed, public_raw, kind=VOUCHER_KIND)
    return Voucher.from_payload(payload), digest(data)


def peek_voucher(signed: object) -> Voucher:
    """The voucher's claims WITHOUT checking the signature: only to find the terminal whose key
    checks it (and to name a voucher that is then quarantined)."""
    if not isinstance(signed, dict):
        raise InvalidInput("a signed voucher is a JSON object", code="offline_document_malformed")
    data = unb64(signed.get("payload"), "payload")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InvalidInput("the voucher is too large", code="offline_document_malformed")
    try:
        payload = json.loads(data)
    except ValueError:
        raise InvalidInput("the voucher is not JSON", code="offline_document_malformed") from None
    if not isinstance(payload, dict) or payload.get("kind") != VOUCHER_KIND:
        raise InvalidInput("not a voucher", code="offline_document_kind")
    return Voucher.from_payload(payload)
