"""OWASP API2:2023 broken authentication: unsigned, stale, replayed, wrong-key, tampered
requests and bad staff tokens are refused with 401 and a stable problem type."""

from __future__ import annotations

import json
import time

import jwt

from facepay.client import TerminalSession
from facepay.demo.world import Site
from facepay.terminal.signing import generate_terminal_key, sign_request

CHALLENGES = "/v1/liveness/challenges"


def _code(response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"urn:facepay:problem:{body['code']}"
    return body["code"]


def test_a_signed_request_is_accepted(site_a: Site) -> None:
    assert site_a.kiosk.request("POST", CHALLENGES).status_code == 201


def test_unsigned_request_is_refused(api, site_a: Site) -> None:
    response = api.http.post(CHALLENGES)
    assert response.status_code == 401
    assert _code(response) == "no_credentials"
    assert "www-authenticate" in response.headers


def test_missing_header_is_refused(api, site_a: Site) -> None:
    headers = site_a.kiosk.signed_headers("POST", CHALLENGES, b"")
    del headers["X-Facepay-Nonce"]
    response = api.http.post(CHALLENGES, headers=headers)
    assert (response.status_code, _code(response)) == (401, "malformed_signature_headers")


def test_stale_timestamp_is_refused(api, site_a: Site) -> None:
    old = int(time.time()) - 301
    headers = sign_request(
        site_a.kiosk.key, "POST", CHALLENGES, b"", terminal_id=site_a.kiosk.terminal_id,
        timestamp=old,
    )  # fmt: skip
    response = api.http.post(CHALLENGES, headers=headers)
    assert (response.status_code, _code(response)) == (401, "timestamp_out_of_window")


def test_future_timestamp_is_refused(api, site_a: Site) -> None:
    headers = sign_request(
        site_a.kiosk.key, "POST", CHALLENGES, b"", terminal_id=site_a.kiosk.terminal_id,
        timestamp=int(time.time()) + 400,
    )  # fmt: skip
    response = api.http.post(CHALLENGES, headers=headers)
    assert (response.status_code, _code(response)) == (401, "timestamp_out_of_window")


def test_replayed_request_is_refused(api, site_a: Site) -> None:
    headers = site_a.kiosk.signed_headers("POST", CHALLENGES, b"")
    assert api.http.post(CHALLENGES, headers=headers).status_code == 201
    again = api.http.post(CHALLENGES, headers=headers)
    assert (again.status_code, _code(again)) == (401, "nonce_replayed")


def test_wrong_key_is_refused(api, site_a: Site) -> None:
    impostor = TerminalSession(api.http, site_a.kiosk.terminal_id, generate_terminal_key())
    response = impostor.request("POST", CHALLENGES)
    assert (response.status_code, _code(response)) == (401, "bad_signature")


def test_unknown_terminal_is_refused(api) -> None:
    stranger = TerminalSession(api.http, "trm_nobody", generate_terminal_key())
    response = stranger.request("POST", CHALLENGES)
    assert (response.status_code, _code(response)) == (401, "unknown_terminal")


def test_tampered_body_is_refused(api, site_a: Site) -> None:
    body = json.dumps({"capture": {"started_at": "2026-01-01T00:00:00Z", "frames": []}}).encode()
    headers = site_a.kiosk.signed_headers("POST", "/v1/identifications", body)
    tampered = body.replace(b"2026", b"2027")
    response = api.http.post(
        "/v1/identifications",
        content=tampered,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert (response.status_code, _code(response)) == (401, "body_digest_mismatch")


def test_signature_for_another_path_is_refused(api, site_a: Site) -> None:
    bill = site_a.post_bill()
    headers = site_a.kiosk.signed_headers("GET", "/v1/bills/bil_other", b"")
    response = api.http.get(f"/v1/bills/{bill['id']}", headers=headers)
    assert (response.status_code, _code(response)) == (401, "bad_signature")


def test_signature_for_another_method_is_refused(api, site_a: Site) -> None:
    headers = site_a.kiosk.signed_headers("GET", CHALLENGES, b"")
    response = api.http.post(CHALLENGES, headers=headers)
    assert (response.status_code, _code(response)) == (401, "bad_signature")


def test_revoked_terminal_is_refused(api, site_a: Site) -> None:
    created = site_a.admin.request("POST", "/v1/terminals", {"name": "spare", "kind": "kiosk"})
    spare = TerminalSession.from_pem(
        api.http, created.json()["id"], created.json()["private_key_pem"]
    )
    assert spare.request("POST", CHALLENGES).status_code == 201
    assert site_a.admin.request("DELETE", f"/v1/terminals/{spare.terminal_id}").status_code == 204
    response = spare.request("POST", CHALLENGES)
    assert (response.status_code, _code(response)) == (401, "unknown_terminal")


def test_wrong_password_is_refused(api, site_a: Site) -> None:
    response = api.http.post(
        "/v1/auth/login", json={"username": "operator", "password": "not-the-password-1"}
    )
    assert (response.status_code, _code(response)) == (401, "invalid_credentials")


def test_forged_and_malformed_tokens_are_refused(api) -> None:
    forged = jwt.encode(
        {"sub": "x", "role": "admin", "hospital_id": "h", "iss": "facepay",
         "aud": "facepay-staff", "exp": int(time.time()) + 60, "nbf": 0, "iat": 0, "jti": "j"},
        "another-secret-of-at-least-32-bytes!!",
        algorithm="HS256",
    )  # fmt: skip
    cases = {
        f"Bearer {forged}": "token_bad_signature",
        "Bearer not.a.token": "token_malformed",
        "Basic b3BlcmF0b3I6eA==": "token_malformed",
    }
    for header, code in cases.items():
        response = api.http.get("/v1/audit/verification", headers={"Authorization": header})
        assert (response.status_code, _code(response)) == (401, code)


def test_unsigned_alg_none_token_is_refused(api) -> None:
    claims = {"sub": "x", "role": "admin", "hospital_id": "h", "iss": "facepay",
              "aud": "facepay-staff", "exp": int(time.time()) + 60, "nbf": 0, "iat": 0,
              "jti": "j"}  # fmt: skip
    token = jwt.encode(claims, None, algorithm="none")
    response = api.http.get("/v1/audit/verification", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
