"""An API on a real uvicorn (127.0.0.1, free port) over SQLite, with two onboarded hospitals."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from facepay.api.app import create_app
from facepay.bootstrap import build_engine, build_face_engine
from facepay.config import Settings
from facepay.demo.client import StaffSession
from facepay.demo.local import fast_passwords, seed_operator, serve_in_thread, stored_services
from facepay.demo.world import Site, make_site
from facepay.services.context import Services
from facepay.vision.dlib_engine import DlibFaceEngine

SECRET = "t3st-jwt-k3y-" + "Zq8Lw2Xv9Rb4Nm7Kp1Hs6Dc3Fg5Jt0Ay"
OPERATOR = ("operator", "operator-pass-2026")
SERIALS = itertools.count(100)


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


@pytest.fixture(scope="session")
def face_engine() -> DlibFaceEngine:
    """The real dlib engine, loaded once."""
    return build_face_engine(Settings())


def running_api(settings: Settings, engine: DlibFaceEngine) -> Iterator[Api]:
    """Build services on `settings`, seed the operator, serve, log the operator in."""
    database = build_engine(settings)
    services = stored_services(settings, engine, database=database)
    passwords = fast_passwords()
    seed_operator(services, username=OPERATOR[0], password=OPERATOR[1], passwords=passwords)
    app = create_app(services, passwords=passwords)
    try:
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=120) as http:
            operator = StaffSession.login(http, *OPERATOR)
            yield Api(url, http, app, services, operator, settings.data_dir)
    finally:
        database.dispose()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, face_engine: DlibFaceEngine) -> Iterator[Api]:
    """One API (own SQLite file) per test module."""
    settings = api_settings(tmp_path_factory.mktemp("api"))
    yield from running_api(settings, face_engine)


@pytest.fixture(scope="module")
def site_a(api: Api) -> Site:
    """Hospital A."""
    return make_site(api.http, api.operator, serial=next(SERIALS))


@pytest.fixture(scope="module")
def site_b(api: Api) -> Site:
    """Hospital B."""
    return make_site(api.http, api.operator, serial=next(SERIALS))


@pytest.fixture
def limited_api(tmp_path: Path, face_engine: DlibFaceEngine) -> Iterator[Api]:
    """An API whose terminals get a burst of 3 requests, then one every 2 s."""
    settings = api_settings(tmp_path, api_rate_terminal_per_second=0.5, api_rate_terminal_burst=3)
    yield from running_api(settings, face_engine)
