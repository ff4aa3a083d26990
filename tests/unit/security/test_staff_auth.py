"""Staff login: argon2id hashing with rehash on login, and short-lived JWTs with every rejection."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from facepay.access.passwords import PasswordHashing
from facepay.access.rbac import PrincipalKind, Role
from facepay.access.staff import InMemoryStaffAccounts, StaffAccount, authenticate
from facepay.access.tokens import StaffTokens
from facepay.bootstrap import build_staff_tokens
from facepay.config import Settings
from facepay.shared.clock import FixedClock
from facepay.shared.errors import InvalidInput, Unauthorized

NOW = datetime(2026, 11, 23, 23, 40, tzinfo=UTC)
SECRET = "k3Jx9-pQ2mZ7vR4tL8wN1cY6bH5gF0dS-aE3uI7oP2yT9rW4qX8zV1nM6jK5hG0f"  # 64 bytes
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def cheap() -> PasswordHashing:
    # Low cost keeps the unit tests fast; the production parameters have their own test.
    return PasswordHashing(time_cost=1, memory_cost_kib=1024, parallelism=1)


class CountingHashing(PasswordHashing):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.verifications = 0

    def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        return super().verify(password_hash, password)


def account(passwords: PasswordHashing, *, active: bool = True, password: str = PASSWORD):
    return StaffAccount(
        staff_id="stf_1",
        username="li.na",
        password_hash=passwords.hash(password),
        role=Role.CASHIER,
        hospital_id="hos_a",
        active=active,
    )


def login(accounts, passwords, username="li.na", password=PASSWORD) -> StaffAccount:
    return authenticate(
        accounts=accounts, passwords=passwords, username=username, password=password
    )


def refused(code: str, fn, *args, **kwargs) -> None:
    with pytest.raises(Unauthorized) as err:
        fn(*args, **kwargs)
    assert err.value.code == code


def test_production_parameters_are_explicit_argon2id() -> None:
    passwords = PasswordHashing()
    stored = passwords.hash(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify(stored, PASSWORD)
    assert not passwords.verify(stored, PASSWORD + "!")
    assert not passwords.needs_rehash(stored)


@pytest.mark.parametrize("weak", ["", "short", "x" * 11, "y" * 1025])
def test_weak_passwords_are_refused(cheap: PasswordHashing, weak: str) -> None:
    with pytest.raises(InvalidInput) as err:
        cheap.hash(weak)
    assert err.value.code == "weak_password"


def test_login_succeeds_with_the_right_password(cheap: PasswordHashing) -> None:
    accounts = InMemoryStaffAccounts([account(cheap)])
    assert login(accounts, cheap).staff_id == "stf_1"


def test_password_is_unicode_normalised(cheap: PasswordHashing) -> None:
    accounts = InMemoryStaffAccounts([account(cheap, password="ｐａｓｓｗｏｒｄ１２３４５６")])
    assert login(accounts, cheap, password="password123456").staff_id == "stf_1"


def test_wrong_password_and_unknown_user_fail_alike(cheap: PasswordHashing) -> None:
    accounts = InMemoryStaffAccounts([account(cheap)])
    refused("invalid_credentials", login, accounts, cheap, password=PASSWORD + "x")
    refused("invalid_credentials", login, accounts, cheap, username="nobody")
    refused("invalid_credentials", login, accounts, cheap, password="x" * 5000)


def test_unknown_user_still_costs_one_verification() -> None:
    passwords = CountingHashing(time_cost=1, memory_cost_kib=1024, parallelism=1)
    accounts = InMemoryStaffAccounts([account(passwords)])
    refused("invalid_credentials", login, accounts, passwords, username="nobody")
    assert passwords.verifications == 1
    refused("invalid_credentials", login, accounts, passwords, password="wrong password!")
    assert passwords.verifications == 2


def test_disabled_account(cheap: PasswordHashing) -> None:
    accounts = InMemoryStaffAccounts([account(cheap, active=False)])
    refused("account_disabled", login, accounts, cheap)
    refused("invalid_credentials", login, accounts, cheap, password="wrong password!")


def test_malformed_stored_hash_never_matches(cheap: PasswordHashing) -> None:
    broken = StaffAccount("stf_1", "li.na", "$argon2id$garbage", Role.CASHIER, "hos_a")
    refused("invalid_credentials", login, InMemoryStaffAccounts([broken]), cheap)
    plain = StaffAccount("stf_1", "li.na", PASSWORD, Role.CASHIER, "hos_a")
    refused("invalid_credentials", login, InMemoryStaffAccounts([plain]), cheap)


def test_login_rehashes_when_parameters_change(cheap: PasswordHashing) -> None:
    old = account(cheap)
    accounts = InMemoryStaffAccounts([old])
    stronger = PasswordHashing(time_cost=2, memory_cost_kib=2048, parallelism=1)
    assert stronger.needs_rehash(old.password_hash)
    upgraded = login(accounts, stronger)
    stored = accounts.by_username("li.na")
    assert stored is not None
    assert stored.password_hash == upgraded.password_hash != old.password_hash
    assert "m=2048,t=2,p=1" in stored.password_hash
    assert not stronger.needs_rehash(stored.password_hash)
    assert login(accounts, stronger).password_hash == stored.password_hash  # no second rehash


# --- tokens ---------------------------------------------------------------------------------


def tokens(clock: FixedClock | None = None, **kwargs) -> StaffTokens:
    return StaffTokens(secret=SECRET, clock=clock or FixedClock(NOW), **kwargs)


def staff() -> StaffAccount:
    return StaffAccount("stf_1", "li.na", "-", Role.CASHIER, "hos_a")


def b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_issued_token_names_the_staff_principal() -> None:
    issued = tokens().issue(staff())
    claims = claims_of(issued.token)
    assert set(claims) == {"iss", "aud", "sub", "role", "hospital_id", "iat", "nbf", "exp", "jti"}
    assert claims["exp"] - claims["iat"] == 900
    assert issued.expires_at == NOW + timedelta(minutes=15)
    assert jwt.get_unverified_header(issued.token)["alg"] == "HS256"
    principal = tokens().principal(issued.token)
    assert principal.kind is PrincipalKind.STAFF
    assert (principal.id, principal.role, principal.hospital_id) == ("stf_1", Role.CASHIER, "hos_a")
    assert tokens().issue(staff()).jti != issued.jti


def test_token_expires_after_ttl_plus_leeway() -> None:
    clock = FixedClock(NOW)
    service = tokens(clock)
    token = service.issue(staff()).token
    clock.set(NOW + timedelta(minutes=15, seconds=29))
    assert service.principal(token)
    clock.set(NOW + timedelta(minutes=15, seconds=30))
    refused("token_expired", service.principal, token)


def test_token_from_the_future_is_not_yet_valid() -> None:
    clock = FixedClock(NOW)
    token = tokens(clock).issue(staff()).token
    clock.set(NOW - timedelta(seconds=29))
    assert tokens(clock).principal(token)
    clock.set(NOW - timedelta(seconds=31))
    refused("token_not_yet_valid", tokens(clock).principal, token)


def test_tampered_payload_is_rejected() -> None:
    header, _, signature = tokens().issue(staff()).token.split(".")
    forged_claims = {**claims_of(tokens().issue(staff()).token), "role": "admin"}
    forged = f"{header}.{b64url(forged_claims)}.{signature}"
    refused("token_bad_signature", tokens().principal, forged)


def test_tampered_signature_and_other_secret_are_rejected() -> None:
    token = tokens().issue(staff()).token
    head, body, sig = token.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    refused("token_bad_signature", tokens().principal, f"{head}.{body}.{flipped}")
    other = StaffTokens(secret=SECRET[::-1], clock=FixedClock(NOW)).issue(staff()).token
    refused("token_bad_signature", tokens().principal, other)


def test_alg_none_and_other_algorithms_are_rejected() -> None:
    claims = claims_of(tokens().issue(staff()).token)
    unsigned = f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims)}."
    refused("token_bad_algorithm", tokens().principal, unsigned)
    hs512 = jwt.encode(claims, SECRET.encode(), algorithm="HS512")
    refused("token_bad_algorithm", tokens().principal, hs512)
    refused("token_bad_algorithm", tokens().principal, "e30.e30.e30")  # header without alg


def test_wrong_audience_and_issuer_are_rejected() -> None:
    other_audience = tokens(audience="facepay-terminal").issue(staff()).token
    refused("token_wrong_audience", tokens().principal, other_audience)
    other_issuer = tokens(issuer="someone-else").issue(staff()).token
    refused("token_wrong_issuer", tokens().principal, other_issuer)


@pytest.mark.parametrize(
    "change",
    [
        {"jti": None},
        {"role": "superuser"},
        {"role": ["admin"]},
        {"sub": 7},
        {"hospital_id": ""},
        {"exp": "tomorrow"},
        {"iat": True},
    ],
)
def test_bad_or_missing_claims_are_rejected(change: dict) -> None:
    claims = {**claims_of(tokens().issue(staff()).token), **change}
    claims = {k: v for k, v in claims.items() if v is not None}
    token = jwt.encode(claims, SECRET.encode(), algorithm="HS256")
    with pytest.raises(Unauthorized) as err:
        tokens().principal(token)
    assert err.value.code in {"token_bad_claims", "token_malformed"}


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "x" * 5000, "e30.e30"])
def test_garbage_tokens_are_malformed(garbage: str) -> None:
    refused("token_malformed", tokens().principal, garbage)


def test_short_secret_is_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        StaffTokens(secret="too-short", clock=FixedClock(NOW))
    assert err.value.code == "weak_secret"


def test_tokens_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACEPAY_JWT_SECRET", raising=False)
    monkeypatch.delenv("FACEPAY_ENVIRONMENT", raising=False)
    settings = Settings(jwt_secret=SECRET, staff_token_ttl_seconds=60)
    service = build_staff_tokens(settings, clock=FixedClock(NOW))
    token = service.issue(staff()).token
    assert claims_of(token)["exp"] - claims_of(token)["iat"] == 60
    assert tokens().principal(token).id == "stf_1"


@pytest.mark.parametrize("lifetime", [timedelta(days=365 * 100), timedelta(seconds=901 + 30)])
def test_a_token_living_longer_than_the_configured_ttl_is_refused(lifetime: timedelta) -> None:
    # Signed with the real secret, yet no token this server issues lives that long.
    claims = claims_of(tokens().issue(staff()).token)
    claims["exp"] = claims["iat"] + int(lifetime.total_seconds())
    token = jwt.encode(claims, SECRET.encode(), algorithm="HS256")
    refused("token_bad_claims", tokens().principal, token)


def test_a_token_of_exactly_the_ttl_is_accepted() -> None:
    assert tokens().principal(tokens().issue(staff()).token).id == "stf_1"
