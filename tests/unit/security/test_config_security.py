"""Security settings: the JWT secret is required outside dev and never weak or echoed."""

from __future__ import annotations

import secrets

import pytest
from pydantic import ValidationError

from facepay.config import Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FACEPAY_ENVIRONMENT", "FACEPAY_JWT_SECRET"):
        monkeypatch.delenv(name, raising=False)


def test_dev_without_secret_gets_a_random_strong_one() -> None:
    one, two = Settings(), Settings()
    assert one.environment == "dev"
    assert len(one.jwt_secret.get_secret_value()) >= 32
    assert one.jwt_secret != two.jwt_secret
    assert "*" in repr(one.jwt_secret)


@pytest.mark.parametrize("environment", ["test", "production"])
def test_secret_is_required_outside_dev(environment: str) -> None:
    with pytest.raises(ValidationError, match="must be set"):
        Settings(environment=environment)


@pytest.mark.parametrize(
    "weak",
    ["changethis", "short-but-random-Xy7", "changethis" * 4, "a" * 64, "my-secret-" + "k" * 30],
)
@pytest.mark.parametrize("environment", ["dev", "production"])
def test_weak_secrets_are_refused_and_not_echoed(environment: str, weak: str) -> None:
    with pytest.raises(ValidationError) as err:
        Settings(environment=environment, jwt_secret=weak)
    assert weak not in str(err.value)


def test_strong_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    strong = secrets.token_urlsafe(48)
    monkeypatch.setenv("FACEPAY_ENVIRONMENT", "production")
    monkeypatch.setenv("FACEPAY_JWT_SECRET", strong)
    settings = Settings()
    assert settings.jwt_secret.get_secret_value() == strong
    assert strong not in repr(settings)


def test_security_defaults() -> None:
    settings = Settings()
    assert settings.request_max_skew_seconds == 300
    assert settings.staff_token_ttl_seconds == 900
    assert settings.cashier_refund_limit_fen == 50_000
