"""The offline protocol's documents: canonical bytes, signatures, the voucher chain, the seal."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from facepay.shared.errors import InvalidInput
from facepay.terminal import protocol as p


def _voucher(counter: int = 1, prev: str = p.GENESIS, **changes: object) -> p.Voucher:
    fields: dict[str, object] = {
        "id": p.uuid7(),
        "terminal_id": "trm_a",
        "hospital_id": "hsp_a",
        "counter": counter,
        "prev_hash": prev,
        "created_at": "2026-12-01T08:00:00+08:00",
        "limits_version": "lim_1",
        "library_version": "lib_1",
        "bill_id": "bil_1",
        "bill_total_fen": 12_345,
        "person_id": "pat_1",
        "evidence": {"method": "face", "score": p.score_units(0.91)},
        "provisional": {"psn_cash_pay": 2_000},
        "cash_collected_fen": 2_000,
    }
    fields.update(changes)
    return p.Voucher(**fields)  # type: ignore[arg-type]


def test_canonical_bytes_are_sorted_compact_and_refuse_floats() -> None:
    assert p.canonical({"b": 1, "a": [2, "é"]}) == b'{"a":[2,"\\u00e9"],"b":1}'
    with pytest.raises(InvalidInput, match="integers"):
        p.canonical({"score": 0.5})


def test_uuid7_has_version_7_and_sorts_by_time() -> None:
    first, second = p.uuid7(now_ms=1_000), p.uuid7(now_ms=2_000)
    assert p.is_uuid7(first)
    assert p.is_uuid7(second)
    assert first < second
    assert not p.is_uuid7("00000000-0000-4000-8000-000000000000")


def test_a_signed_voucher_opens_with_its_key_and_chains_by_hash() -> None:
    key = Ed25519PrivateKey.generate()
    first = _voucher()
    signed, first_hash = p.sign_voucher(key, first)
    opened, opened_hash = p.open_voucher(signed, p.ed25519_public_raw(key))
    assert opened == first
    assert opened_hash == first_hash
    second = _voucher(2, first_hash)
    assert p.open_voucher(p.sign_voucher(key, second)[0], p.ed25519_public_raw(key))[0] == second


def test_a_voucher_signed_by_another_key_or_altered_is_refused() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    signed, _ = p.sign_voucher(key, _voucher())
    with pytest.raises(InvalidInput) as refused:
        p.open_voucher(signed, p.ed25519_public_raw(other))
    assert refused.value.code == "offline_signature_bad"
    payload = json.loads(p.unb64(signed["payload"], "payload"))
    payload["cash_collected_fen"] = 0
    forged = {**signed, "payload": p.b64(p.canonical(payload))}
    with pytest.raises(InvalidInput) as altered:
        p.open_voucher(forged, p.ed25519_public_raw(key))
    assert altered.value.code == "offline_signature_bad"
    # Peeking reads the claims without trusting them: the server uses it only to find the key.
    assert p.peek_voucher(forged).cash_collected_fen == 0


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"counter": 0}, "counter"),
        ({"counter": True}, "counter"),
        ({"prev_hash": "xyz"}, "prev_hash"),
        ({"cash_collected_fen": -1}, "cash_collected_fen"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"created_at": "2026-12-01T08:00:00"}, "created_at"),
        ({"id": "not-a-uuid"}, "id"),
        ({"bill_id": "a b"}, "bill_id"),
    ],
)
def test_a_malformed_voucher_names_its_field(change: dict[str, object], problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem) as refused:
        _voucher(**change)
    assert refused.value.code == "offline_document_malformed"


def test_a_voucher_with_an_extra_or_missing_field_is_refused() -> None:
    payload = _voucher().payload()
    with pytest.raises(InvalidInput, match="exactly the fields"):
        p.Voucher.from_payload({**payload, "note": "x"})
    del payload["evidence"]
    with pytest.raises(InvalidInput, match="exactly the fields"):
        p.Voucher.from_payload(payload)


def test_a_signed_document_of_another_kind_or_non_canonical_bytes_is_refused() -> None:
    key = Ed25519PrivateKey.generate()
    public = p.ed25519_public_raw(key)
    limits = p.sign_document(key, {"kind": p.LIMITS_KIND, "version": "1"})
    with pytest.raises(InvalidInput) as kind:
        p.open_document(limits, public, kind=p.VOUCHER_KIND)
    assert kind.value.code == "offline_document_kind"
    loose = b'{"kind": "facepay.offline-limits.v1"}'
    signed = {"payload": p.b64(loose), "signature": p.b64(key.sign(loose)), "key_id": "x"}
    with pytest.raises(InvalidInput, match="canonical"):
        p.open_document(signed, public, kind=p.LIMITS_KIND)
    with pytest.raises(InvalidInput):
        p.open_document({"payload": "%%%", "signature": ""}, public, kind=p.LIMITS_KIND)


def test_limits_check_their_bounds_and_round_trip() -> None:
    limits = p.OfflineLimits(per_payment_fen=10_000, cumulative_fen=100_000)
    assert p.OfflineLimits.from_json(limits.to_json()) == limits
    with pytest.raises(InvalidInput, match="per_payment_fen cannot exceed"):
        p.OfflineLimits(per_payment_fen=10_000, cumulative_fen=5_000)
    with pytest.raises(InvalidInput, match="max_library_age_seconds"):
        p.OfflineLimits(max_library_age_seconds=5)
    with pytest.raises(InvalidInput, match="refresh_seconds"):
        p.OfflineLimits(refresh_seconds=1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="a JSON object with"):
        p.OfflineLimits.from_json({**limits.to_json(), "extra": 1})


def test_a_sealed_library_opens_only_for_its_terminal_and_context() -> None:
    terminal, other = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    context = p.library_context("trm_a", "lib_1")
    sealed = p.seal(p.x25519_public_raw(terminal), b"templates", context=context)
    assert p.open_sealed(terminal, sealed, context=context) == b"templates"
    for key, ctx, blob in [
        (other, context, sealed),
        (terminal, p.library_context("trm_b", "lib_1"), sealed),
        (terminal, context, sealed[:-1] + bytes([sealed[-1] ^ 1])),
        (terminal, context, b"\x01short"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            p.open_sealed(key, blob, context=ctx)
        assert refused.value.code == "offline_seal_bad"
