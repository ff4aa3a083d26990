"""Terminal key encodings for registration, a fixed test vector, and signed audit checkpoints."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facepay.access.keys import (
    Ed25519CheckpointSigner,
    Ed25519CheckpointVerifier,
    key_fingerprint,
    public_key_from_text,
)
from facepay.access.signing import (
    InMemoryNonceStore,
    InMemoryTerminalKeys,
    RequestVerifier,
    TerminalKey,
)
from facepay.shared.clock import FixedClock
from facepay.shared.errors import InvalidInput
from facepay.supervision.audit import AuditHead, verify_chain
from facepay.supervision.audit_checkpoint import sign_checkpoint, trusted_head
from facepay.supervision.audit_store import AuditLog, InMemoryAuditStore
from facepay.terminal.signing import (
    HEADER_SIGNATURE,
    generate_terminal_key,
    private_key_from_pem,
    private_key_to_pem,
    public_key_pem,
    public_key_raw_b64,
    sign_request,
)

NOW = datetime(2026, 11, 23, 23, 40, tzinfo=UTC)
SEED = bytes(range(32))  # a published test key: never use it for a real terminal


def test_private_key_pem_round_trip_with_and_without_passphrase() -> None:
    key = generate_terminal_key()
    for passphrase in (None, b"kiosk-7 passphrase"):
        pem = private_key_to_pem(key, passphrase=passphrase)
        assert (b"ENCRYPTED" in pem) is (passphrase is not None)
        loaded = private_key_from_pem(pem, passphrase=passphrase)
        assert public_key_raw_b64(loaded) == public_key_raw_b64(key)


def test_wrong_passphrase_or_foreign_key_is_refused() -> None:
    pem = private_key_to_pem(generate_terminal_key(), passphrase=b"right")
    with pytest.raises(InvalidInput):
        private_key_from_pem(pem, passphrase=b"wrong")
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(InvalidInput):
        private_key_from_pem(ec_pem)
    ec_public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(InvalidInput):
        public_key_from_text(ec_public.decode())


def test_public_key_from_pem_or_base64_gives_the_same_raw_key() -> None:
    key = generate_terminal_key()
    raw = public_key_from_text(public_key_pem(key))
    assert len(raw) == 32
    assert public_key_from_text(public_key_raw_b64(key)) == raw
    assert public_key_from_text("  " + public_key_raw_b64(key) + "\n") == raw
    assert key_fingerprint(raw).startswith("SHA256:")
    assert key_fingerprint(raw) != key_fingerprint(
        public_key_from_text(public_key_raw_b64(SEED_KEY))
    )


SEED_KEY = Ed25519PrivateKey.from_private_bytes(SEED)


@pytest.mark.parametrize(
    "text", ["", "not base64!", base64.b64encode(b"x" * 31).decode(), "-----BEGIN nonsense"]
)
def test_bad_public_keys_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        public_key_from_text(text)
    assert err.value.code == "bad_key"


def test_fixed_test_vector_for_terminal_vendors() -> None:
    # README "Terminal request signing": implementations must reproduce these exact values.
    assert public_key_raw_b64(SEED_KEY) == "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
    headers = sign_request(
        SEED_KEY,
        "POST",
        "/v1/bills/bil_1/settle?preview=false",
        b'{"confirm":true}',
        terminal_id="ter_demo",
        timestamp=1795995600,
        nonce="AAAAAAAAAAAAAAAAAAAAAA",
    )
    assert headers == {
        "X-Facepay-Terminal": "ter_demo",
        "X-Facepay-Timestamp": "1795995600",
        "X-Facepay-Nonce": "AAAAAAAAAAAAAAAAAAAAAA",
        "X-Facepay-Content-SHA256": VECTOR_DIGEST,
        "X-Facepay-Signature": VECTOR_SIGNATURE,
    }
    raw = public_key_from_text(public_key_raw_b64(SEED_KEY))
    verifier = RequestVerifier(
        keys=InMemoryTerminalKeys([TerminalKey("ter_demo", "hos_demo", raw)]),
        nonces=InMemoryNonceStore(),
        clock=FixedClock(datetime.fromtimestamp(1795995600, tz=UTC)),
    )
    principal = verifier.verify(
        method="POST",
        path="/v1/bills/bil_1/settle?preview=false",
        headers=headers,
        body=b'{"confirm":true}',
    )
    assert principal.hospital_id == "hos_demo"


VECTOR_DIGEST = "63547eaf4a83685f619c8e5945531198eea290b70c54ca9a45db5dbd3fddee34"
VECTOR_SIGNATURE = (
    "QRfr9A20iweYIKMWHq2C7tsNBq1XP8qSBG6+A7lrSmyv+zA/We2vd5mSIHFu/aoiB8tEMhmKQatoMeEF6H5RDw=="
)


def audit_log(n: int) -> tuple[AuditLog, InMemoryAuditStore]:
    store = InMemoryAuditStore()
    log = AuditLog(store=store, clock=FixedClock(NOW))
    for i in range(n):
        log.record(actor="stf_1", action="payment.settled", subject=f"bil_{i}")
    return log, store


def test_signed_checkpoint_gives_a_trusted_head_that_catches_a_rewritten_tail() -> None:
    key = generate_terminal_key()
    signer = Ed25519CheckpointSigner(key)
    verifier = Ed25519CheckpointVerifier(public_key_from_text(public_key_raw_b64(key)))
    log, store = audit_log(4)
    checkpoint = sign_checkpoint(head=log.head(), at=NOW, signer=signer)
    head = trusted_head(checkpoint=checkpoint, verifier=verifier)
    assert head == AuditHead(4, store.last().hash)
    assert verify_chain(store.iterate(), head=head).ok
    assert not verify_chain(list(store.iterate())[:3], head=head).ok


@pytest.mark.parametrize(
    "change",
    [
        {"head": AuditHead(3, "0" * 64)},
        {"at": NOW + timedelta(seconds=1)},
        {"key_id": "SHA256:someone-else"},
        {"signature": base64.b64encode(b"\x00" * 64).decode()},
        {"signature": "not base64!"},
    ],
)
def test_altered_checkpoints_are_refused(change: dict) -> None:
    key = generate_terminal_key()
    verifier = Ed25519CheckpointVerifier(public_key_from_text(public_key_raw_b64(key)))
    log, _ = audit_log(2)
    checkpoint = sign_checkpoint(head=log.head(), at=NOW, signer=Ed25519CheckpointSigner(key))
    with pytest.raises(InvalidInput) as err:
        trusted_head(checkpoint=dataclasses.replace(checkpoint, **change), verifier=verifier)
    assert err.value.code == "bad_checkpoint"


def test_checkpoint_signed_by_another_key_is_refused() -> None:
    log, _ = audit_log(1)
    checkpoint = sign_checkpoint(
        head=log.head(), at=NOW, signer=Ed25519CheckpointSigner(generate_terminal_key())
    )
    other = Ed25519CheckpointVerifier(public_key_from_text(public_key_raw_b64(SEED_KEY)))
    with pytest.raises(InvalidInput):
        trusted_head(checkpoint=checkpoint, verifier=other)


def test_signature_header_is_standard_base64_of_64_bytes() -> None:
    headers = sign_request(generate_terminal_key(), "GET", "/v1/x", b"", terminal_id="t")
    assert len(base64.b64decode(headers[HEADER_SIGNATURE], validate=True)) == 64
