"""Terminal request signing: the terminal signs, the server verifies, each rejection has a code."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from facepay.access.keys import public_key_from_text
from facepay.access.rbac import PrincipalKind
from facepay.access.signing import (
    InMemoryNonceStore,
    InMemoryTerminalKeys,
    RequestVerifier,
    TerminalKey,
)
from facepay.shared.clock import FixedClock
from facepay.shared.errors import InvalidInput, Unauthorized
from facepay.terminal.signing import (
    HEADER_CONTENT_SHA256,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TERMINAL,
    HEADER_TIMESTAMP,
    SIGNED_HEADERS,
    canonical_request,
    generate_terminal_key,
    public_key_raw_b64,
    sign_request,
)

NOW = datetime(2026, 11, 23, 23, 40, tzinfo=UTC)
TS = int(NOW.timestamp())
KEY_A = generate_terminal_key()
KEY_B = generate_terminal_key()
BODY = b'{"bill_id":"bil_1","amount_fen":12345}'
PATH = "/v1/bills/bil_1/settle?preview=false&x=%2F"


def registry() -> InMemoryTerminalKeys:
    return InMemoryTerminalKeys(
        [
            TerminalKey("ter_a", "hos_a", public_key_from_text(public_key_raw_b64(KEY_A))),
            TerminalKey("ter_b", "hos_b", public_key_from_text(public_key_raw_b64(KEY_B))),
        ]
    )


def make_verifier(*, clock: FixedClock | None = None, max_per_terminal: int = 1000):
    return RequestVerifier(
        keys=registry(),
        nonces=InMemoryNonceStore(max_per_terminal=max_per_terminal),
        clock=clock or FixedClock(NOW),
    )


def signed(
    method="POST", path=PATH, body=BODY, *, key=KEY_A, terminal_id="ter_a", ts=TS, nonce=None
):
    return sign_request(key, method, path, body, terminal_id=terminal_id, timestamp=ts, nonce=nonce)


def rejected(code: str, verifier: RequestVerifier, *, headers, method="POST", path=PATH, body=BODY):
    with pytest.raises(Unauthorized) as err:
        verifier.verify(method=method, path=path, headers=headers, body=body)
    assert err.value.code == code
    return err.value


def test_signed_request_is_accepted_as_its_terminal() -> None:
    principal = make_verifier().verify(method="POST", path=PATH, headers=signed(), body=BODY)
    assert principal.kind is PrincipalKind.TERMINAL
    assert (principal.id, principal.hospital_id, principal.role) == ("ter_a", "hos_a", None)


def test_empty_body_lower_case_method_and_header_case_do_not_matter() -> None:
    headers = {k.lower(): v for k, v in signed("get", "/v1/bills", b"").items()}
    assert make_verifier().verify(method="GET", path="/v1/bills", headers=headers, body=b"")


def test_headers_as_a_list_of_pairs() -> None:
    pairs = [*signed().items(), ("Content-Type", "application/json")]
    assert make_verifier().verify(method="POST", path=PATH, headers=pairs, body=BODY)


def test_unknown_and_revoked_terminals_are_rejected() -> None:
    rejected("unknown_terminal", make_verifier(), headers=signed(terminal_id="ter_x"))
    keys = registry()
    keys.remove("ter_a")
    verifier = RequestVerifier(keys=keys, nonces=InMemoryNonceStore(), clock=FixedClock(NOW))
    rejected("unknown_terminal", verifier, headers=signed())


def test_bad_signature_is_rejected() -> None:
    headers = signed()
    raw = bytearray(base64.b64decode(headers[HEADER_SIGNATURE]))
    raw[10] ^= 0x01
    headers[HEADER_SIGNATURE] = base64.b64encode(bytes(raw)).decode()
    rejected("bad_signature", make_verifier(), headers=headers)


def test_wrong_key_is_rejected() -> None:
    rejected("bad_signature", make_verifier(), headers=signed(key=KEY_B))


def test_claiming_another_terminal_is_rejected() -> None:
    headers = signed()
    headers[HEADER_TERMINAL] = "ter_b"
    rejected("bad_signature", make_verifier(), headers=headers)


def test_changed_body_is_rejected() -> None:
    rejected("body_digest_mismatch", make_verifier(), headers=signed(), body=BODY + b" ")
    rejected("body_digest_mismatch", make_verifier(), headers=signed(), body=BODY[:-1])
    forged = signed()
    forged[HEADER_CONTENT_SHA256] = signed(body=b"{}")[HEADER_CONTENT_SHA256]
    rejected("bad_signature", make_verifier(), headers=forged, body=b"{}")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", PATH),
        ("GET", PATH),
        ("POST", "/v1/bills/bil_2/settle?preview=false&x=%2F"),
        ("POST", "/v1/bills/bil_1/settle?preview=true&x=%2F"),
        ("POST", "/v1/bills/bil_1/settle?x=%2F&preview=false"),
        ("POST", "/v1/bills/bil_1/settle?preview=false&x=/"),
        ("POST", "/v1/bills/bil_1/settle"),
    ],
)
def test_changed_method_or_path_is_rejected(method: str, path: str) -> None:
    rejected("bad_signature", make_verifier(), headers=signed(), method=method, path=path)


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_timestamps_inside_five_minutes_pass(offset: int) -> None:
    assert make_verifier().verify(
        method="POST", path=PATH, headers=signed(ts=TS + offset), body=BODY
    )


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 86_400, -TS])
def test_timestamps_outside_five_minutes_are_rejected(offset: int) -> None:
    rejected("timestamp_out_of_window", make_verifier(), headers=signed(ts=TS + offset))


def test_far_future_timestamp_is_out_of_window_not_a_crash() -> None:
    rejected("timestamp_out_of_window", make_verifier(), headers=signed(ts=999_999_999_999))


def test_changed_timestamp_is_rejected() -> None:
    headers = signed()
    headers[HEADER_TIMESTAMP] = str(TS + 1)
    rejected("bad_signature", make_verifier(), headers=headers)


def test_replayed_nonce_is_rejected() -> None:
    verifier = make_verifier()
    headers = signed()
    verifier.verify(method="POST", path=PATH, headers=headers, body=BODY)
    rejected("nonce_replayed", verifier, headers=headers)
    again = signed(nonce=headers[HEADER_NONCE], ts=TS + 1)  # same nonce, freshly signed
    rejected("nonce_replayed", verifier, headers=again)


def test_same_nonce_from_another_terminal_is_fine() -> None:
    verifier = make_verifier()
    verifier.verify(method="POST", path=PATH, headers=signed(nonce="n" * 22), body=BODY)
    other = signed(key=KEY_B, terminal_id="ter_b", nonce="n" * 22)
    assert verifier.verify(method="POST", path=PATH, headers=other, body=BODY).id == "ter_b"


def test_replay_after_the_window_is_refused_by_the_timestamp() -> None:
    clock = FixedClock(NOW)
    verifier = make_verifier(clock=clock)
    headers = signed()
    verifier.verify(method="POST", path=PATH, headers=headers, body=BODY)
    clock.set(NOW + timedelta(seconds=301))
    rejected("timestamp_out_of_window", verifier, headers=headers)


def test_rejected_requests_do_not_burn_their_nonce() -> None:
    verifier = make_verifier()
    rejected("bad_signature", verifier, headers=signed(key=KEY_B, nonce="m" * 22))
    assert verifier.verify(method="POST", path=PATH, headers=signed(nonce="m" * 22), body=BODY)


def test_nonce_memory_is_bounded_and_fails_closed() -> None:
    clock = FixedClock(NOW)
    verifier = make_verifier(clock=clock, max_per_terminal=3)
    for _ in range(3):
        verifier.verify(method="POST", path=PATH, headers=signed(), body=BODY)
    rejected("replay_cache_full", verifier, headers=signed())
    clock.set(NOW + timedelta(seconds=301))  # the three nonces have expired
    later = signed(ts=TS + 301)
    assert verifier.verify(method="POST", path=PATH, headers=later, body=BODY)


def test_nonce_store_purge_returns_memory() -> None:
    store = InMemoryNonceStore()
    for i in range(50):
        assert store.remember(
            terminal_id="t", nonce=f"{i:022d}", expires_at=NOW, now=NOW - timedelta(1)
        )
    assert len(store) == 50
    early = NOW - timedelta(seconds=1)
    assert not store.remember(terminal_id="t", nonce=f"{0:022d}", expires_at=NOW, now=early)
    store.purge(now=NOW)
    assert len(store) == 0


@pytest.mark.parametrize("name", SIGNED_HEADERS)
def test_each_missing_header_is_malformed(name: str) -> None:
    headers = signed()
    del headers[name]
    rejected("malformed_signature_headers", make_verifier(), headers=headers)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (HEADER_TIMESTAMP, "12.5"),
        (HEADER_TIMESTAMP, "-5"),
        (HEADER_TIMESTAMP, "0x10"),
        (HEADER_TIMESTAMP, f"0{TS}"),
        (HEADER_TIMESTAMP, "1" * 13),
        (HEADER_TIMESTAMP, ""),
        (HEADER_NONCE, "short"),
        (HEADER_NONCE, "n" * 65),
        (HEADER_NONCE, "has space in it 12345"),
        (HEADER_TERMINAL, "ter_a\nX-Injected: 1"),
        (HEADER_TERMINAL, ""),
        (HEADER_SIGNATURE, "not base64!"),
        (HEADER_SIGNATURE, base64.b64encode(b"x" * 63).decode()),
        (HEADER_SIGNATURE, base64.b64encode(b"x" * 65).decode()),
        (HEADER_CONTENT_SHA256, "A" * 64),
        (HEADER_CONTENT_SHA256, "abc"),
    ],
)
def test_malformed_header_values(name: str, value: str) -> None:
    headers = signed()
    headers[name] = value
    rejected("malformed_signature_headers", make_verifier(), headers=headers)


def test_repeated_header_is_malformed() -> None:
    headers = signed()
    pairs = [*headers.items(), (HEADER_NONCE.lower(), "z" * 22)]
    rejected("malformed_signature_headers", make_verifier(), headers=pairs)


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", PATH), ("POST", "v1/bills"), ("POST", "/v1/a b"), ("POST", "/v1/x#frag"), ("", PATH)],
)
def test_malformed_method_or_path_on_the_server(method: str, path: str) -> None:
    rejected(
        "malformed_signature_headers", make_verifier(), headers=signed(), method=method, path=path
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"terminal_id": "bad id"},
        {"path": "/v1/x\n"},
        {"nonce": "short"},
        {"ts": -1},
        {"ts": datetime(2026, 1, 1)},  # noqa: DTZ001 - naive on purpose
    ],
)
def test_client_refuses_to_sign_malformed_requests(kwargs: dict) -> None:
    with pytest.raises(InvalidInput):
        signed(**kwargs)


def test_client_defaults_are_fresh() -> None:
    one = sign_request(KEY_A, "GET", "/v1/bills", b"", terminal_id="ter_a")
    two = sign_request(KEY_A, "GET", "/v1/bills", b"", terminal_id="ter_a")
    assert one[HEADER_NONCE] != two[HEADER_NONCE]
    assert len(one[HEADER_NONCE]) == 22
    aware = sign_request(KEY_A, "GET", "/v1/bills", b"", terminal_id="ter_a", timestamp=NOW)
    assert aware[HEADER_TIMESTAMP] == str(TS)


def test_canonical_string_is_exactly_the_documented_one() -> None:
    message = canonical_request(
        terminal_id="ter_a",
        method="POST",
        path="/v1/bills/bil_1/settle?preview=false",
        timestamp=1795995600,
        nonce="AAAAAAAAAAAAAAAAAAAAAA",
        content_sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    )
    assert message == (
        b"FACEPAY-ED25519-V1\nter_a\nPOST\n/v1/bills/bil_1/settle?preview=false\n1795995600\n"
        b"AAAAAAAAAAAAAAAAAAAAAA\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=200),
    field=st.sampled_from(["body", "path", "method", "nonce", "timestamp"]),
    data=st.data(),
)
def test_any_change_to_a_signed_part_is_rejected(body: bytes, field: str, data) -> None:
    headers = signed(body=body, nonce="q" * 22)
    method, path = "POST", PATH
    if field == "body":
        at = data.draw(st.integers(0, len(body)))
        changed = body[:at] + data.draw(st.binary(min_size=1, max_size=3)) + body[at + 1 :]
        assume(changed != body)
        body = changed
    elif field == "path":
        path = PATH + data.draw(st.sampled_from(["&", "x", "/", "%20"]))
    elif field == "method":
        method = data.draw(st.sampled_from(["GET", "PUT", "PATCH", "DELETE"]))
    elif field == "nonce":
        headers[HEADER_NONCE] = "q" * 21 + data.draw(st.sampled_from("abcXYZ019-_"))
    else:
        headers[HEADER_TIMESTAMP] = str(TS + data.draw(st.integers(-299, 299).filter(bool)))
    with pytest.raises(Unauthorized) as err:
        make_verifier().verify(method=method, path=path, headers=headers, body=body)
    assert err.value.code in {"bad_signature", "body_digest_mismatch"}
