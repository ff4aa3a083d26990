"""The hospital flows over HTTP: a real uvicorn per test module on SQLite and on PostgreSQL,
with two onboarded hospitals (the fixtures of the security tests)."""

from __future__ import annotations

from tests.security.conftest import Api, api, site_a, site_b

__all__ = ["Api", "api", "site_a", "site_b"]
