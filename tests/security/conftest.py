"""An API on a real uvicorn (127.0.0.1, free port) over SQLite and over PostgreSQL, with two
onboarded hospitals."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from facepay.client import StaffSession
from facepay.config import Settings
from facepay.demo.world import Site, make_site
from facepay.services.context import Services

SECRET = "t3st-jwt-k3y-" + "Zq8Lw2Xv9Rb4Nm7Kp1Hs6Dc3Fg5Jt0Ay"
OPERATOR = ("operator", "operator-pass-2026")
SERIALS = itertools.count(100)
ServeApi = Callable[..., AbstractContextManager[tuple[Any, ...]]]


@dataclass
class Api:
    """A running API and the operator's session."""

    url: str
    http: httpx.Client
    app: FastAPI
    services: Services
    operator: StaffSession
    data_dir: Path


def api_settings(data_dir: Path, **overrides: object) -> Settings:
    """Test settings: small limits so that the limit tests stay cheap."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "environment": "test",
        "jwt_secret": SECRET,
        "gallery_backend": "memory",
        "api_max_body_bytes": 12 * 1024 * 1024,
        "api_max_frames": 40,
        "api_rate_terminal_per_second": 500.0,
        "api_rate_terminal_burst": 500,
        "api_rate_staff_per_second": 500.0,
        "api_rate_staff_burst": 500,
        "api_rate_login_per_minute": 600.0,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def running_api(settings: Settings, serve_api: ServeApi) -> Iterator[Api]:
    """Serve the API on `settings` with the operator logged in."""
    with serve_api(settings, OPERATOR) as (url, http, app, services, operator):
        yield Api(url, http, app, services, operator, settings.data_dir)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def api_on(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    serve_api: ServeApi,
    *,
    prefix: str,
) -> Iterator[Api]:
    """An API on the database `request.param` names: its own SQLite file, or its own
    PostgreSQL database (named `prefix`...) on the session's server."""
    overrides: dict[str, object] = {}
    if request.param == "postgresql":
        create_database = request.getfixturevalue("create_postgres_database")
        overrides["database_url"] = create_database(prefix)
    settings = api_settings(tmp_path_factory.mktemp("api"), **overrides)
    yield from running_api(settings, serve_api)


@pytest.fixture(scope="module", params=BACKENDS)
def api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    serve_api: ServeApi,
) -> Iterator[Api]:
    """One API per test module and database."""
    yield from api_on(request, tmp_path_factory, serve_api, prefix="facepay_security_")


@pytest.fixture(scope="module")
def site_a(api: Api) -> Site:
    """Hospital A."""
    return make_site(api.http, api.operator, serial=next(SERIALS))


@pytest.fixture(scope="module")
def site_b(api: Api) -> Site:
    """Hospital B."""
    return make_site(api.http, api.operator, serial=next(SERIALS))


@pytest.fixture
def limited_api(tmp_path: Path, serve_api: ServeApi) -> Iterator[Api]:
    """An API whose terminals get a burst of 3 requests, then one every 20 s, and whose logins
    get a burst of 10 per user name, then one every 10 s: refills too slow to matter however
    loaded the machine is."""
    settings = api_settings(
        tmp_path,
        api_rate_terminal_per_second=0.05,
        api_rate_terminal_burst=3,
        api_rate_login_per_minute=6.0,
    )
    yield from running_api(settings, serve_api)
