"""Terminal request signing (the client side of the protocol, and its one definition).

Every request a terminal sends carries five headers; the signature is Ed25519 over the ASCII bytes

    FACEPAY-ED25519-V1\\n<terminal_id>\\n<METHOD>\\n<path?query>\\n<timestamp>\\n<nonce>\\n<body_sha256>

(no trailing newline). The server (`facepay.access.signing`) rebuilds the same bytes with the
functions below, so client and server cannot drift apart. The README section "Terminal request
signing" describes the format for vendors who implement it in another language.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from datetime import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facepay.shared.errors import InvalidInput

SCHEME = "FACEPAY-ED25519-V1"
HEADER_TERMINAL = "X-Facepay-Terminal"
HEADER_TIMESTAMP = "X-Facepay-Timestamp"
HEADER_NONCE = "X-Facepay-Nonce"
HEADER_CONTENT_SHA256 = "X-Facepay-Content-SHA256"
HEADER_SIGNATURE = "X-Facepay-Signature"
SIGNED_HEADERS = (
    HEADER_TERMINAL,
    HEADER_TIMESTAMP,
    HEADER_NONCE,
    HEADER_CONTENT_SHA256,
    HEADER_SIGNATURE,
)

TERMINAL_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
METHOD = re.compile(r"^[A-Z]{1,16}$")
# Origin-form request target exactly as sent: printable ASCII, no space, no fragment.
PATH = re.compile(r"^/[\x21-\x22\x24-\x7e]{0,2047}$")
TIMESTAMP = re.compile(r"^(0|[1-9][0-9]{0,11})$")
NONCE = re.compile(r"^[A-Za-z0-9_\-]{16,64}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
SIGNATURE_B64 = re.compile(r"^[A-Za-z0-9+/]{86}==$")


def body_sha256(body: bytes) -> str:
    """Lower-case hex SHA-256 of the exact body bytes (of b"" when there is no body)."""
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    *, terminal_id: str, method: str, path: str, timestamp: int, nonce: str, content_sha256: str
) -> bytes:
    """The bytes that are signed; raises InvalidInput if any part breaks the protocol's grammar."""
    parts = (
        ("terminal id", TERMINAL_ID, terminal_id),
        ("method", METHOD, method),
        ("path", PATH, path),
        ("timestamp", TIMESTAMP, str(timestamp)),
        ("nonce", NONCE, nonce),
        ("body digest", SHA256_HEX, content_sha256),
    )
    for label, grammar, value in parts:
        if not grammar.fullmatch(value):
            raise InvalidInput(f"malformed {label} for request signing", code="bad_signing_input")
    return "\n".join([SCHEME, *(value for _, _, value in parts)]).encode("ascii")


def new_nonce() -> str:
    """A fresh nonce: 128 random bits, URL-safe base64 (22 characters)."""
    return secrets.token_urlsafe(16)


def sign_request(
    private_key: Ed25519PrivateKey,
    method: str,
    path: str,
    body: bytes,
    *,
    terminal_id: str,
    timestamp: datetime | int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Return the five signing headers for one request (`path` includes the query string)."""
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None:
            raise InvalidInput("timestamp must be timezone-aware", code="bad_signing_input")
        timestamp = int(timestamp.timestamp())
    elif timestamp is None:
        timestamp = int(time.time())
    nonce = new_nonce() if nonce is None else nonce
    digest = body_sha256(body)
    message = canonical_request(
        terminal_id=terminal_id,
        method=method.upper(),
        path=path,
        timestamp=timestamp,
        nonce=nonce,
        content_sha256=digest,
    )
    return {
        HEADER_TERMINAL: terminal_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_CONTENT_SHA256: digest,
        HEADER_SIGNATURE: base64.b64encode(private_key.sign(message)).decode("ascii"),
    }


def generate_terminal_key() -> Ed25519PrivateKey:
    """A new Ed25519 key pair for a terminal; the private half never leaves the terminal."""
    return Ed25519PrivateKey.generate()


def private_key_to_pem(key: Ed25519PrivateKey, *, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM of the private key, encrypted when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def private_key_from_pem(pem: bytes, *, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """Load a terminal's private key; InvalidInput if it is not an Ed25519 key."""
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("cannot read the private key", code="bad_key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput("the private key is not Ed25519", code="bad_key")
    return key


def public_key_pem(key: Ed25519PrivateKey) -> str:
    """SubjectPublicKeyInfo PEM of the public half: what an admin registers on the server."""
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return public.decode("ascii")


def public_key_raw_b64(key: Ed25519PrivateKey) -> str:
    """The raw 32-byte public key in standard base64 (44 characters), the compact alternative."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")
